package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/seed-3a5b824e/assent/assets"
)

// The packaging tools read Icon.png beside the main; the app shows
// assets/icon.png. They must be the same picture.
func TestThePackagingIconIsTheAppIcon(t *testing.T) {
	data, err := os.ReadFile("Icon.png")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, assets.Icon) {
		t.Fatal("cmd/assent/Icon.png differs from assets/icon.png: copy assets/icon.png over it")
	}
}
