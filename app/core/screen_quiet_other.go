//go:build !linux || android

package core

func quietX11() {}
