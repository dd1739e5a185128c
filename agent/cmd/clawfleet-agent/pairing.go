package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/clawfleet/clawfleet/agent/pairing"
	"github.com/clawfleet/clawfleet/agent/wifi"
	"github.com/clawfleet/clawfleet/pkg/creds"
)

// pairingConfig is what `run` takes for the local page and Wi-Fi pairing.
type pairingConfig struct {
	mode            string // off or wifi
	localPage       string // comma-separated host:port list, or off
	hotspotPassword string
	wifiInterface   string
}

// parse checks the flags and returns the local page's addresses; the
// error names the bad value.
func (pc pairingConfig) parse() (addrs []string, err error) {
	switch pc.mode {
	case "off", "wifi":
	default:
		return nil, fmt.Errorf("--pairing %q: use off or wifi", pc.mode)
	}
	if pw := pc.hotspotPassword; pw != "" && (len(pw) < 8 || len(pw) > 63) {
		return nil, fmt.Errorf("--hotspot-password: 8-63 characters, or none for an open hotspot")
	}
	addrs = []string{} // empty, not nil: "off" means no listener
	if pc.localPage != "off" {
		for _, a := range strings.Split(pc.localPage, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs, nil
}

// startPairing runs the local page and, with --pairing wifi, the hotspot
// when the box is offline, until ctx ends. Neither stops the agent when it
// fails: the agent keeps reporting over whatever network there is.
// claimCode is the code to show (a reissued one over the credentials');
// ready gets the pairing once it runs.
func startPairing(ctx context.Context, pc pairingConfig, addrs []string, cr *creds.Credentials, claimCode string, ready func(*pairing.Pairing), log *slog.Logger) {
	if pc.mode == "off" && len(addrs) == 0 {
		return
	}
	log = log.With("component", "pairing")
	go func() {
		o := pairing.Options{DeviceID: cr.DeviceID, ClaimCode: claimCode, CloudURL: cr.CloudURL,
			Hotspot: wifi.Hotspot{Password: pc.hotspotPassword}, LocalAddrs: addrs, Logger: log}
		if pc.mode == "wifi" {
			nm := connectNM(ctx, pc.wifiInterface, log)
			if nm == nil {
				return
			}
			defer nm.Close()
			o.Network = nm
		}
		p, err := pairing.New(o)
		if err == nil {
			ready(p)
			err = p.Run(ctx)
		}
		if err != nil {
			log.Error("local page and pairing off", "err", err)
		}
	}()
}

// connectNM waits for NetworkManager (it may start after the agent),
// retrying every 5 s until ctx ends.
func connectNM(ctx context.Context, iface string, log *slog.Logger) *wifi.NetworkManager {
	for warned := false; ; warned = true {
		nm, err := wifi.NewNetworkManager(ctx, wifi.NMOptions{Interface: iface, Logger: log})
		if err == nil {
			return nm
		}
		if !warned {
			log.Warn("Wi-Fi pairing waits for NetworkManager", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}
