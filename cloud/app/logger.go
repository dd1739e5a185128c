package app

import (
	"io"
	"log/slog"
	"strings"

	"github.com/clawfleet/clawfleet/cloud/config"
)

// NewLogger is the cloud's logger: cfg's level and format, written to w.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
