package main

import "testing"

func TestTheDefaultServerIsTheOneMakeRunStarted(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:8080"},
		{map[string]string{"ASSENT_LISTEN": "127.0.0.1:9123"}, "http://localhost:9123"},
		{map[string]string{"ASSENT_LISTEN": "0.0.0.0:8443"}, "http://localhost:8443"},
		{map[string]string{"ASSENT_LISTEN": "no port"}, "http://127.0.0.1:8080"},
		{map[string]string{"ASSENT_LISTEN": "127.0.0.1:9123", "ASSENT_URL": "https://assent.example.com"}, "https://assent.example.com"},
	} {
		if got := defaultServer(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.env, got, tc.want)
		}
	}
}
