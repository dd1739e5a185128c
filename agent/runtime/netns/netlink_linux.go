package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The tenant networks are made with system calls and netlink from the
// agent itself, as `ip netns add`, `ip link`, `ip addr` and `ip route` make
// them: a burst of 20 creations was 60 ip runs (and 40 nsenter and setpriv
// runs to start the gateways), forks that the 2 cores of a small worker
// spent while every other start waited.

// addNamed creates a network namespace bound at path, as `ip netns add`
// does: Dir made a shared mount point first, so the namespace's mount
// propagates to other mount namespaces (a systemd unit's private /run
// included).
func addNamed(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := shareDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("network namespace file: %w", err)
	}
	f.Close()
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare the network namespace: %w", err)
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the network namespace to %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
	}
	return err
}

// shareDir makes dir a shared mount (bind-mounted on itself first if it is
// not a mount point), as ip does before its first namespace.
func shareDir(dir string) error {
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make %s a mount point: %w", dir, err)
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	return nil
}

// delNamed removes the namespace bound at path, as `ip netns del` does;
// the namespace itself (and the veth end in it) goes with its last user.
func delNamed(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}

// onThread runs fn on a locked OS thread and puts the thread back into
// the agent's own network namespace afterwards. A thread that cannot go
// back stays locked, so it ends with its goroutine and nothing else ever
// runs in the wrong namespace.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("the agent's network namespace: %w", err)
			return
		}
		defer self.Close()
		err = fn()
		if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); rerr != nil {
			errc <- errors.Join(err, fmt.Errorf("back to the agent's network namespace: %w", rerr))
			return // the thread ends locked
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// Spawn starts cmd, inside the network namespace at nsPath unless it is
// "": forked from the spawner's thread, which enters the namespace for the
// fork (a child starts in its parent thread's namespace) and returns to the
// agent's. The identity change is cmd's SysProcAttr (Credential, Pdeathsig
// after it), so the pid is the gateway's and no nsenter or setpriv runs.
//
// Every gateway is forked from that one thread, locked for the agent's
// life: a child's parent-death signal follows the thread that forked it,
// and Go ends a thread whenever a goroutine exits locked to it (a failed
// return from a namespace, a test's helper), which would take every
// gateway that thread had forked with it.
func Spawn(nsPath string, cmd *exec.Cmd) error {
	var ns *os.File
	if nsPath != "" {
		f, err := os.Open(nsPath)
		if err != nil {
			return fmt.Errorf("network namespace %s: %w", nsPath, err)
		}
		defer f.Close()
		ns = f
	}
	done := make(chan error, 1)
	spawnOnce.Do(func() { go spawner() })
	spawns <- spawnReq{ns: ns, cmd: cmd, done: done}
	return <-done
}

type spawnReq struct {
	ns   *os.File // nil: the agent's own namespace
	cmd  *exec.Cmd
	done chan error
}

var (
	spawns    = make(chan spawnReq)
	spawnOnce sync.Once
)

// spawner forks what Spawn is asked for, on a thread it never unlocks. A
// thread that cannot return from a tenant's namespace is left parked (its
// children live on) and a new spawner takes over.
func spawner() {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	for req := range spawns {
		if err != nil {
			req.done <- fmt.Errorf("the agent's network namespace: %w", err)
			continue
		}
		if req.ns != nil {
			if err := unix.Setns(int(req.ns.Fd()), unix.CLONE_NEWNET); err != nil {
				req.done <- fmt.Errorf("enter network namespace %s: %w", req.ns.Name(), err)
				continue
			}
		}
		serr := req.cmd.Start()
		if req.ns != nil {
			if rerr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); rerr != nil {
				req.done <- serr // started where it should be; this thread is not
				go spawner()
				select {} // parked for good: its children keep their parent
			}
		}
		req.done <- serr
	}
}

// configure makes t's veth pair with its addresses, links and default
// route, in a namespace just made and on a host without its host end.
func configure(t Tenant) error {
	ns, err := vnetns.GetFromPath(t.Path())
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: t.HostIf}, PeerName: t.NSIf, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", t.HostIf, err)
	}
	host, err := netlink.LinkByName(t.HostIf)
	if err != nil {
		return fmt.Errorf("veth %s: %w", t.HostIf, err)
	}
	if err := netlink.AddrReplace(host, addrOf(t.Host)); err != nil {
		return fmt.Errorf("address %s on %s: %w", t.Host, t.HostIf, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", t.HostIf, err)
	}
	return inNamespace(ns, func(h *netlink.Handle) error { return configureInside(t, h) })
}

// inNamespace runs fn with a netlink handle whose socket is in ns, made
// on a thread of onThread's (netlink.NewHandleAt unlocks its thread even
// when it could not return it to the agent's namespace).
func inNamespace(ns vnetns.NsHandle, fn func(h *netlink.Handle) error) error {
	return onThread(func() error {
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		return fn(h)
	})
}

// configureInside sets up lo, t's end of the veth and the default route,
// through h, a handle in t's namespace.
func configureInside(t Tenant, h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo in %s: %w", t.NS, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up in %s: %w", t.NS, err)
	}
	in, err := h.LinkByName(t.NSIf)
	if err != nil {
		return fmt.Errorf("veth %s in %s: %w", t.NSIf, t.NS, err)
	}
	if err := h.AddrReplace(in, addrOf(t.Gateway)); err != nil {
		return fmt.Errorf("address %s on %s: %w", t.Gateway, t.NSIf, err)
	}
	if err := h.LinkSetUp(in); err != nil {
		return fmt.Errorf("set %s up: %w", t.NSIf, err)
	}
	// The kernel picks the veth for the gateway address, as for
	// `ip route replace default via`.
	if err := h.RouteReplace(&netlink.Route{Gw: net.IP(t.Host.AsSlice())}); err != nil {
		return fmt.Errorf("default route via %s in %s: %w", t.Host, t.NS, err)
	}
	return nil
}

// addrOf is a's address on its tenant's /30.
func addrOf(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(30, 32)}}
}

// linkHolds reports whether link is up and holds a on its /30.
func linkHolds(h *netlink.Handle, name string, a netip.Addr) bool {
	l, err := h.LinkByName(name)
	if err != nil || l.Attrs().Flags&net.FlagUp == 0 {
		return false
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	want := netip.PrefixFrom(a, 30)
	for _, ad := range addrs {
		ip, ok := netip.AddrFromSlice(ad.IP)
		ones, _ := ad.Mask.Size()
		if ok && netip.PrefixFrom(ip.Unmap(), ones) == want {
			return true
		}
	}
	return false
}

// wholeOverNetlink reports whether t's veth pair, addresses, lo and
// default route are all in place (its namespace file exists).
func wholeOverNetlink(t Tenant) bool {
	host, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return false
	}
	defer host.Close()
	if !linkHolds(host, t.HostIf, t.Host) {
		return false
	}
	ns, err := vnetns.GetFromPath(t.Path())
	if err != nil {
		return false
	}
	defer ns.Close()
	return inNamespace(ns, func(h *netlink.Handle) error {
		if !wholeInside(t, h) {
			return errNotWhole
		}
		return nil
	}) == nil
}

var errNotWhole = errors.New("not whole")

// wholeInside reports whether t's end of the veth, lo and the default route
// are in place, through h, a handle in t's namespace.
func wholeInside(t Tenant, h *netlink.Handle) bool {
	if !linkHolds(h, t.NSIf, t.Gateway) {
		return false
	}
	if lo, err := h.LinkByName("lo"); err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		return false
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, r := range routes {
		if (r.Dst == nil || isDefault(r.Dst)) && r.Gw != nil && r.Gw.Equal(net.IP(t.Host.AsSlice())) {
			return true
		}
	}
	return false
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0 && n.IP.IsUnspecified()
}
