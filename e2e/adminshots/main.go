// Command adminshots takes the screenshots of the admin and account
// pages' device actions for `make screenshot-web` (scripts/screenshot-web.sh):
// two alike devices told apart, a user at high risk with the reset offered,
// the confirmation of revoking and of removing a device, and the site's
// 404 page, at desktop and phone widths. It drives headless Chromium
// against the script's demo assentd, with real app/core devices.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/seed-3a5b824e/assent/internal/webshot"
)

func main() {
	base := flag.String("url", "", "the demo server's URL")
	out := flag.String("out", "docs/screenshots", "folder for the PNG files")
	adminLink := flag.String("admin", "", "an enrollment link for dana (an admin)")
	vmLinks := flag.String("vm", "", "two enrollment links for bob, comma-separated")
	token := flag.String("token", "", "an admin API token (to send bob a push he reports)")
	flag.Parse()
	links := strings.Split(*vmLinks, ",")
	if *base == "" || *adminLink == "" || len(links) != 2 || *token == "" {
		log.Fatal("usage: adminshots -url URL -admin LINK -vm LINK,LINK -token TOKEN [-out DIR]")
	}
	*base = strings.TrimRight(*base, "/")
	work, err := os.MkdirTemp("", "adminshots")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()

	dana := webshot.Device(ctx, work, "Dana's ThinkPad", *adminLink)
	vm := webshot.Device(ctx, work, "vm", links[0])
	webshot.Device(ctx, work, "vm", links[1])

	// bob reports a push he did not ask for: his risk is high.
	req, _ := http.NewRequest("POST", *base+"/v1/admin/push", bytes.NewReader([]byte(`{"login":"bob"}`)))
	req.Header.Set("Authorization", "Bearer "+*token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	var sent struct {
		ChallengeIDs []string `json:"challengeIds"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&sent)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(sent.ChallengeIDs) == 0 {
		log.Fatalf("test push to bob: %s", resp.Status)
	}
	p := webshot.WaitPrompt(ctx, vm)
	if _, err := vm.Deny(ctx, p, true); err != nil {
		log.Fatalf("report: %v", err)
	}

	b, stop := webshot.Start(ctx, work, *base, *out)
	defer stop()

	// dana signs in to the admin area: password, then a push.
	b.SignIn("/signin?app=admin&return=/admin", "dana", "correct horse battery")
	b.Click("choose-push")
	b.Page("push")
	webshot.Approve(ctx, dana, b.Number())
	if b.PageAfter("push") == "profile" {
		b.Fill("profile-department", "Security")
		b.Click("save")
	}
	b.Page("admin")
	b.Shot("admin-devices")
	b.Phone()
	b.Shot("admin-phone")
	b.Desktop()
	id := b.Attr(`#user-bob a[id^="revoke-"]`, "id")
	b.Click(id)
	b.Page("confirm")
	b.Shot("revoke-confirm")
	b.Phone()
	b.Shot("revoke-confirm-phone")
	b.Desktop()

	b.Open("/account")
	b.Page("account")
	b.Phone()
	b.Shot("account-phone")
	id = b.Attr(`a[id^="remove-device-"]`, "id")
	b.Click(id)
	b.Page("confirm")
	b.Shot("remove-confirm-phone")

	// A mistyped address: the site's 404 page.
	b.Desktop()
	b.Open("/acount")
	if b.Eval(`String(document.querySelector('main[data-page="notfound"]') !== null)`) != "true" {
		log.Printf("no 404 page at /acount (the router does not send unknown addresses to the pages yet): its screenshots are skipped")
	} else {
		b.Shot("notfound")
		b.Phone()
		b.Shot("notfound-phone")
	}
	log.Printf("screenshots saved in %s", *out)
}
