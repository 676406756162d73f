package gnetengine

import (
	"os"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"
)

// Why this file exists: gnet reads every readable socket into the
// connection's inbound buffer whether or not the handler consumes it, and
// has no call to stop reading one. A relay whose client reads slower than
// its upstream writes would then hold the whole difference in memory. To
// bound it, the relay takes the socket out of the loop's epoll interest
// set while the other side's backlog is high (backpressure reaches the
// sender through TCP flow control) and puts it back when it drains.
//
// The loop's epoll descriptor is not exported, so epollFD finds it by
// reflection in gnet's event loop and checks that the descriptor really is
// an epoll instance before using it. If the layout ever changes, pausing
// is switched off and the relay falls back to buffering (still correct,
// only unbounded); TestEpollFDFound fails so the change is noticed.

// epollFD returns the epoll descriptor of a gnet event loop, or -1.
func epollFD(el gnet.EventLoop) int {
	v := reflect.ValueOf(el)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return -1
	}
	f := v.Elem().FieldByName("poller")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*netpoll.Poller)(nil)) || f.IsNil() {
		return -1
	}
	fdField, ok := f.Type().Elem().FieldByName("fd")
	if !ok || fdField.Type.Kind() != reflect.Int {
		return -1
	}
	p := unsafe.Pointer(f.Pointer())
	fd := *(*int)(unsafe.Add(p, fdField.Offset))
	if fd <= 0 {
		return -1
	}
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil || target != "anon_inode:[eventpoll]" {
		return -1
	}
	return fd
}

// pauseRead stops the loop from reading fd (errors and hang-ups are still
// reported). It reports whether reading is paused.
func pauseRead(epfd, fd int) bool {
	if epfd < 0 {
		return false
	}
	ev := unix.EpollEvent{Events: 0, Fd: int32(fd)}
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev) == nil
}

// resumeRead restores the read interest gnet registered (level-triggered).
func resumeRead(epfd, fd int) {
	if epfd < 0 {
		return
	}
	ev := unix.EpollEvent{Events: netpoll.ReadEvents, Fd: int32(fd)}
	_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}
