// Package server is assentd: the device API (enrollment, the push
// WebSocket, the poll fallback, signed responses), the embedded sign-in API
// (an Identity Engine-style transaction with remediations), the audit log,
// and the keys that sign challenges and seal secrets at rest.
//
// The server never imports app/: everything the device and the server must
// agree on lives in push/, enroll/ or crypto/.
package server
