// Command capture saves a PNG of a window on an X display: the window whose
// title starts with -title, or the whole screen. make screenshot uses it
// to photograph the real app under Xvfb.
//
//	go run ./scripts/capture -title Assent -o docs/screenshots/accounts.png
//
// With -size WxH it first resizes that window (there is no window manager
// under Xvfb to do it), waits for the app to draw at the new size, and
// then saves it: a phone-sized picture of a desktop window.
package main

import (
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"strings"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/kbinani/screenshot"
)

func main() {
	title := flag.String("title", "", "capture the window whose title starts with this (default: the whole screen)")
	out := flag.String("o", "screen.png", "PNG file to write")
	size := flag.String("size", "", "resize the window to WxH (e.g. 360x640) before capturing it; needs -title")
	wait := flag.Duration("wait", 2*time.Second, "with -size, how long the app has to draw at the new size")
	flag.Parse()
	if *size != "" {
		var w, h int
		if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 || w > 10000 || h > 10000 || *title == "" {
			fmt.Fprintln(os.Stderr, "capture: -size wants WxH, such as 360x640, and -title")
			os.Exit(2)
		}
		if err := resize(*title, w, h); err != nil {
			fmt.Fprintln(os.Stderr, "capture:", err)
			os.Exit(1)
		}
		time.Sleep(*wait)
	}
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
	r, _, err := lookup(title)
	return r, err
}

// resize sets the size of the window titled title.
func resize(title string, w, h int) error {
	_, win, err := lookup(title)
	if err != nil {
		return err
	}
	conn, err := xgb.NewConn()
	if err != nil {
		return err
	}
	defer conn.Close()
	return xproto.ConfigureWindowChecked(conn, win, xproto.ConfigWindowWidth|xproto.ConfigWindowHeight, []uint32{uint32(w), uint32(h)}).Check()
}

// lookup finds a top-level window by title: where it is on the screen,
// and its id.
func lookup(title string) (image.Rectangle, xproto.Window, error) {
	conn, err := xgb.NewConn()
	if err != nil {
		return image.Rectangle{}, 0, err
	}
	defer conn.Close()
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	var found xproto.Window
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
				found = child
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
		return r, found, nil
	}
	return image.Rectangle{}, 0, fmt.Errorf("no window titled %q is shown", title)
}
