//go:build !linux

package gnetengine

import "github.com/panjf2000/gnet/v2"

// On other systems the relay does not pause reads; see pause_linux.go.

func epollFD(gnet.EventLoop) int  { return -1 }
func pauseRead(epfd, fd int) bool { return false }
func resumeRead(epfd, fd int)     {}
