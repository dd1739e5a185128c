package adopt

import (
	"reflect"
	"strings"
	"testing"

	"github.com/clawfleet/clawfleet/pkg/proto"
)

func TestParseMap(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Request
		err      string
	}{
		{"lines, comments and blanks", "# Portainer's gateways\n\n/openclaw-alice alice\n  openclaw-bob\tbob  bob-claw basic \nopenclaw-carol carol - pro\n",
			[]Request{{Container: "openclaw-alice", Owner: "alice"}, {Container: "openclaw-bob", Owner: "bob", Slug: "bob-claw", Plan: "basic"}, {Container: "openclaw-carol", Owner: "carol", Plan: "pro"}}, ""},
		{"empty", "# nothing yet\n", nil, ""},
		{"one field", "openclaw-alice\n", nil, "line 1"},
		{"five fields", "a b c d e\n", nil, "line 1"},
		{"bad container", "openclaw-x x\n../etc alice\n", nil, "line 2"},
		{"bad slug", "openclaw-alice alice Not_A_Slug\n", nil, "line 1: slug"},
		{"twice", "openclaw-alice alice\nopenclaw-alice bob\n", nil, "line 2: container openclaw-alice is on line 1 already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMap(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestListingAdopted(t *testing.T) {
	id := strings.Repeat("ab", 32)
	l := &Listing{Containers: []proto.ContainerCandidate{
		{ID: id, Name: "openclaw-alice", Tenant: "ten_alice0000"},
		{ID: strings.Repeat("cd", 32), Name: "openclaw-bob", Adoptable: true},
	}}
	for ref, want := range map[string]string{"openclaw-alice": "ten_alice0000", "/openclaw-alice": "ten_alice0000", id[:12]: "ten_alice0000", id[:6]: "", "openclaw-bob": "", "openclaw-zed": ""} {
		if got, ok := l.Adopted(ref); got != want || ok != (want != "") {
			t.Errorf("Adopted(%q) = %q %v, want %q", ref, got, ok, want)
		}
	}
}
