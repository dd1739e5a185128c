package i18n

import (
	"regexp"
	"slices"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want Lang
	}{
		{map[string]string{}, En},
		{map[string]string{"LANG": "zh_CN.UTF-8"}, Zh},
		{map[string]string{"LANG": "en_US.UTF-8"}, En},
		{map[string]string{"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, En},
		{map[string]string{"LANG": "en_US.UTF-8", "LC_ALL": "zh_TW.UTF-8"}, Zh},
		{map[string]string{"LC_ALL": "zh_CN.UTF-8", "CLAWFLEET_LANG": "en"}, En},
		{map[string]string{"LANG": "C", "CLAWFLEET_LANG": "ZH"}, Zh},
		{map[string]string{"LANG": "C"}, En},
	}
	for _, tt := range tests {
		got := Detect(func(k string) string { return tt.env[k] })
		if got != tt.want {
			t.Errorf("Detect(%v) = %s, want %s", tt.env, got, tt.want)
		}
	}
}

var verb = regexp.MustCompile(`%[-+# 0]*[0-9]*(\.[0-9]+)?[a-zA-Z%]`)

func TestCatalogComplete(t *testing.T) {
	if len(Catalog) == 0 {
		t.Fatal("empty catalog")
	}
	for key, m := range Catalog {
		if m.En == "" || m.Zh == "" {
			t.Errorf("%s: missing a language", key)
			continue
		}
		if en, zh := verb.FindAllString(m.En, -1), verb.FindAllString(m.Zh, -1); !slices.Equal(en, zh) {
			t.Errorf("%s: verbs differ: en %v, zh %v", key, en, zh)
		}
	}
}

func TestT(t *testing.T) {
	if got := Zh.T("err.unknownCommand", "x"); got != `未知命令 "x"` {
		t.Errorf("zh: %s", got)
	}
	if got := En.T("err.unknownCommand", "x"); got != `unknown command "x"` {
		t.Errorf("en: %s", got)
	}
	if got := En.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %s", got)
	}
}
