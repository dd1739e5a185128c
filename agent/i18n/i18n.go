// Package i18n holds the agent's user-facing messages in English and
// Simplified Chinese. Logs stay in English; what a person reads on the
// terminal (usage, errors, results) goes through T.
package i18n

import (
	"fmt"
	"strings"
)

// Lang is a message language.
type Lang string

// Supported languages.
const (
	En Lang = "en"
	Zh Lang = "zh"
)

// Message is one catalog entry.
type Message struct {
	En, Zh string
}

// Detect picks the language: CLAWFLEET_LANG when set, else the first set of
// LC_ALL, LC_MESSAGES and LANG (POSIX precedence). A value starting with "zh"
// selects Chinese; anything else English.
func Detect(getenv func(string) string) Lang {
	for _, k := range []string{"CLAWFLEET_LANG", "LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			if strings.HasPrefix(strings.ToLower(v), "zh") {
				return Zh
			}
			return En
		}
	}
	return En
}

// T returns the message for key in language l, formatted with args like
// fmt.Sprintf. An unknown key returns the key itself, so a missing entry is
// visible rather than fatal.
func (l Lang) T(key string, args ...any) string {
	m, ok := Catalog[key]
	if !ok {
		return key
	}
	s := m.En
	if l == Zh && m.Zh != "" {
		s = m.Zh
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}
