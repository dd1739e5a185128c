//go:build linux

package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Available reports whether the kernel's nftables can be programmed here
// (root, or CAP_NET_ADMIN, and nf_tables in the kernel).
func Available() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		return fmt.Errorf("firewall: nftables not usable (root and the nf_tables kernel module are needed): %w", err)
	}
	return nil
}

func ourTable(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

// Apply creates t, or replaces it whole if it exists, in one atomic
// transaction: no packet ever sees half of it, or none of it.
func Apply(t Table) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	tb := ourTable(t.Name)
	// add (a no-op when it exists), delete, add: a replacement that does not
	// fail when there is nothing to replace.
	c.AddTable(tb)
	c.DelTable(tb)
	c.AddTable(tb)
	for _, ch := range t.Chains {
		nch := c.AddChain(baseChain(tb, ch))
		for i, r := range ch.Rules {
			exprs, err := r.exprs()
			if err != nil {
				return fmt.Errorf("firewall: table %s chain %s rule %d: %w", t.Name, ch.Name, i, err)
			}
			c.AddRule(&nftables.Rule{Table: tb, Chain: nch, Exprs: exprs, UserData: ruleTag(t.Name, i, r)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: install table inet %s: %w", t.Name, err)
	}
	return nil
}

func baseChain(tb *nftables.Table, ch Chain) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	nc := &nftables.Chain{Name: ch.Name, Table: tb, Type: nftables.ChainTypeFilter, Policy: &accept}
	switch ch.Hook {
	case Input:
		nc.Hooknum, nc.Priority = nftables.ChainHookInput, nftables.ChainPriorityFilter
	case Forward:
		nc.Hooknum, nc.Priority = nftables.ChainHookForward, nftables.ChainPriorityFilter
	case Postrouting:
		nc.Type = nftables.ChainTypeNAT
		nc.Hooknum, nc.Priority = nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource
	case Prerouting:
		// Before Docker's (and iptables') destination NAT at -100: the
		// first NAT a connection gets at a hook is the one it keeps.
		nc.Type = nftables.ChainTypeNAT
		nc.Hooknum, nc.Priority = nftables.ChainHookPrerouting, nftables.ChainPriorityRef(-110)
	}
	return nc
}

// Remove deletes table name; a table that does not exist is no error.
func Remove(name string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	if _, err := c.ListTableOfFamily(name, nftables.TableFamilyINet); err != nil {
		return nil
	}
	c.DelTable(ourTable(name))
	if err := c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("firewall: remove table inet %s: %w", name, err)
	}
	return nil
}

// Installed reports whether t is in the kernel as Apply put it: its
// chains with exactly its rules, in order.
func Installed(t Table) bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	tb := ourTable(t.Name)
	if _, err := c.ListTableOfFamily(t.Name, nftables.TableFamilyINet); err != nil {
		return false
	}
	for _, ch := range t.Chains {
		got, err := c.GetRules(tb, &nftables.Chain{Name: ch.Name, Table: tb})
		if err != nil || len(got) != len(ch.Rules) {
			return false
		}
		for i, r := range ch.Rules {
			if string(got[i].UserData) != string(ruleTag(t.Name, i, r)) {
				return false
			}
		}
	}
	return true
}

// Insert puts r first in chain of our table (a test's hole in it, say);
// Installed then reports the table as changed until the next Apply.
func Insert(table, chain string, r Rule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	exprs, err := r.exprs()
	if err != nil {
		return err
	}
	tb := ourTable(table)
	c.InsertRule(&nftables.Rule{Table: tb, Chain: &nftables.Chain{Name: chain, Table: tb}, Exprs: exprs})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: insert into inet %s %s: %w", table, chain, err)
	}
	return nil
}

// RemoveLegacyChain removes a chain an older version made with iptables in
// the IPv4 table (where iptables runs on nftables) and the jumps to it from
// the chains from; what does not exist is no error.
func RemoveLegacyChain(table, chain string, from ...string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	tb, legacy, err := foreignChain(c, table, chain)
	if err != nil {
		return nil
	}
	for _, f := range from {
		_, fc, err := foreignChain(c, table, f)
		if err != nil {
			continue
		}
		rules, err := c.GetRules(tb, fc)
		if err != nil {
			return fmt.Errorf("firewall: list ip %s %s: %w", table, f, err)
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if v, ok := e.(*expr.Verdict); ok && (v.Kind == expr.VerdictJump || v.Kind == expr.VerdictGoto) && v.Chain == chain {
					if err := c.DelRule(r); err != nil {
						return err
					}
					break
				}
			}
		}
	}
	c.FlushChain(legacy)
	c.DelChain(legacy)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: remove ip %s %s: %w", table, chain, err)
	}
	return nil
}

// ruleTag is a rule's comment: the table and a digest of the rule and its
// place, which Installed compares.
func ruleTag(table string, i int, r Rule) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d %+v", i, r))
	return userdata.AppendString(nil, userdata.TypeComment, table+" "+hex.EncodeToString(sum[:6]))
}

func foreignTag(tag string, r Rule) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "%+v", r))
	return userdata.AppendString(nil, userdata.TypeComment, tag+" "+hex.EncodeToString(sum[:6]))
}

func foreignChain(c *nftables.Conn, table, chain string) (*nftables.Table, *nftables.Chain, error) {
	tb := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	ch, err := c.ListChain(tb, chain)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: ip %s %s", ErrNoChain, table, chain)
	}
	return tb, ch, nil
}

func hasTag(r *nftables.Rule, tag string) bool {
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	return ok && strings.HasPrefix(s, tag+" ")
}

// EnsureForeign puts r at the top of chain of the IPv4 table (iptables'
// own, e.g. filter DOCKER-USER, where iptables uses nftables), tagged with
// tag, unless it is there; other rules of tag in it are removed.
// ErrNoChain when the chain does not exist (or iptables uses its legacy
// backend, which netlink cannot reach).
func EnsureForeign(table, chain, tag string, r Rule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	tb, ch, err := foreignChain(c, table, chain)
	if err != nil {
		return err
	}
	rules, err := c.GetRules(tb, ch)
	if err != nil {
		return fmt.Errorf("firewall: list ip %s %s: %w", table, chain, err)
	}
	want := foreignTag(tag, r)
	if len(rules) > 0 && string(rules[0].UserData) == string(want) {
		return nil
	}
	for _, old := range rules {
		if hasTag(old, tag) {
			if err := c.DelRule(old); err != nil {
				return err
			}
		}
	}
	exprs, err := r.exprs()
	if err != nil {
		return err
	}
	c.InsertRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: exprs, UserData: want})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall: rule in ip %s %s: %w", table, chain, err)
	}
	return nil
}

// RemoveForeign removes the rules tagged tag from chain of the IPv4 table;
// a missing chain is no error.
func RemoveForeign(table, chain, tag string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("firewall: netlink: %w", err)
	}
	tb, ch, err := foreignChain(c, table, chain)
	if err != nil {
		return nil
	}
	rules, err := c.GetRules(tb, ch)
	if err != nil {
		return fmt.Errorf("firewall: list ip %s %s: %w", table, chain, err)
	}
	n := 0
	for _, r := range rules {
		if hasTag(r, tag) {
			if err := c.DelRule(r); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return c.Flush()
}

// ForeignInstalled reports whether r, tagged tag, is the first rule of
// chain of the IPv4 table.
func ForeignInstalled(table, chain, tag string, r Rule) bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	tb, ch, err := foreignChain(c, table, chain)
	if err != nil {
		return false
	}
	rules, err := c.GetRules(tb, ch)
	return err == nil && len(rules) > 0 && string(rules[0].UserData) == string(foreignTag(tag, r))
}

// ChainExists reports whether the IPv4 table has chain (e.g. Docker made
// filter DOCKER-USER through iptables on nftables).
func ChainExists(table, chain string) bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, _, err = foreignChain(c, table, chain)
	return err == nil
}

// ifname matches an interface name register against name ("x*": prefix).
func ifname(key expr.MetaKey, name string, op expr.CmpOp) []expr.Any {
	data := []byte(name + "\x00")
	if p, ok := strings.CutSuffix(name, "*"); ok {
		data = []byte(p)
	}
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: data}}
}

func (r Rule) exprs() ([]expr.Any, error) {
	var e []expr.Any
	for _, n := range []string{r.In, r.Out, r.NotOut} {
		if len(strings.TrimSuffix(n, "*")) > unix.IFNAMSIZ-1 {
			return nil, fmt.Errorf("interface name %q too long", n)
		}
	}
	if r.In != "" {
		e = append(e, ifname(expr.MetaKeyIIFNAME, r.In, expr.CmpOpEq)...)
	}
	if r.Out != "" {
		e = append(e, ifname(expr.MetaKeyOIFNAME, r.Out, expr.CmpOpEq)...)
	}
	if r.NotOut != "" {
		e = append(e, ifname(expr.MetaKeyOIFNAME, r.NotOut, expr.CmpOpNeq)...)
	}
	if r.Src.IsValid() {
		if !r.Src.Addr().Is4() {
			return nil, fmt.Errorf("source %v is not IPv4", r.Src)
		}
		p := r.Src.Masked()
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: net.CIDRMask(p.Bits(), 32), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()})
	}
	if r.Established {
		e = append(e,
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
	}
	switch r.Proto {
	case TCP:
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
		if r.DPort != 0 {
			e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.DPort)})
		}
	case ICMP:
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMP}})
	case ICMPv6:
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}})
	case AnyProto:
	default:
		return nil, fmt.Errorf("unknown protocol %d", r.Proto)
	}
	if r.DPort != 0 && r.Proto != TCP {
		return nil, errors.New("a port needs TCP")
	}
	switch r.Verdict {
	case Accept:
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	case Reset:
		e = append(e, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case Masquerade:
		e = append(e, &expr.Masq{})
	case Redirect:
		if r.Proto != TCP || r.ToPort == 0 {
			return nil, errors.New("a redirect needs TCP and a port")
		}
		e = append(e, &expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(r.ToPort)},
			&expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED})
	default:
		return nil, fmt.Errorf("unknown verdict %d", r.Verdict)
	}
	return e, nil
}
