// Command capture saves a PNG of a window on an X display: the window whose
// title starts with -title, or the whole screen. make screenshot uses it
// to photograph the real app under Xvfb.
//
//	go run ./scripts/capture -title Assent -o docs/screenshots/accounts.png
package main

import (
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"strings"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/kbinani/screenshot"
)

func main() {
	title := flag.String("title", "", "capture the window whose title starts with this (default: the whole screen)")
	out := flag.String("o", "screen.png", "PNG file to write")
	flag.Parse()
	if err := run(*title, *out); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

func run(title, out string) error {
	rect := screenshot.GetDisplayBounds(0)
	if title != "" {
		r, err := findWindow(title)
		if err != nil {
			return err
		}
		rect = r
	}
	img, err := screenshot.CaptureRect(rect)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// findWindow finds a top-level window by title and returns where it is on
// the screen.
func findWindow(title string) (image.Rectangle, error) {
	conn, err := xgb.NewConn()
	if err != nil {
		return image.Rectangle{}, err
	}
	defer conn.Close()
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	var walk func(w xproto.Window, depth int) (image.Rectangle, bool)
	walk = func(w xproto.Window, depth int) (image.Rectangle, bool) {
		tree, err := xproto.QueryTree(conn, w).Reply()
		if err != nil {
			return image.Rectangle{}, false
		}
		for _, child := range tree.Children {
			attrs, err := xproto.GetWindowAttributes(conn, child).Reply()
			if err != nil || attrs.MapState != xproto.MapStateViewable {
				continue
			}
			name, err := xproto.GetProperty(conn, false, child, xproto.AtomWmName, xproto.GetPropertyTypeAny, 0, 256).Reply()
			if err == nil && strings.HasPrefix(string(name.Value), title) {
				geo, err := xproto.GetGeometry(conn, xproto.Drawable(child)).Reply()
				if err != nil {
					continue
				}
				pos, err := xproto.TranslateCoordinates(conn, child, root, 0, 0).Reply()
				if err != nil {
					continue
				}
				x, y := int(pos.DstX), int(pos.DstY)
				return image.Rect(x, y, x+int(geo.Width), y+int(geo.Height)), true
			}
			if depth < 3 {
				if r, ok := walk(child, depth+1); ok {
					return r, true
				}
			}
		}
		return image.Rectangle{}, false
	}
	if r, ok := walk(root, 0); ok {
		return r, nil
	}
	return image.Rectangle{}, fmt.Errorf("no window titled %q is shown", title)
}
