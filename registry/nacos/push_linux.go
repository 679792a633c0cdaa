package nacos

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// nacos-sdk-go v2.3.2's naming client listens for Nacos 1 UDP pushes on a random port from
// this range, in a goroutine that checks for CloseClient only between datagrams: without
// one, it blocks in its read for ever. Nothing in the SDK's API reaches that socket, and no
// option turns it off.
const pushPortMin, pushPortMax = 54951, 55950

// pushListeners returns the ports of this process's unconnected UDP sockets in the SDK's
// push range. Comparing the sets before and after making a naming client finds its
// receiver's port.
func pushListeners() map[int]bool {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	ports := map[int]bool{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Only reads of the socket's state: the descriptor may belong to anyone.
		if typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); err != nil || typ != syscall.SOCK_DGRAM {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			continue
		}
		var port int
		switch a := sa.(type) {
		case *syscall.SockaddrInet4:
			port = a.Port
		case *syscall.SockaddrInet6:
			port = a.Port
		}
		if port < pushPortMin || port > pushPortMax {
			continue
		}
		if _, err := syscall.Getpeername(fd); err == nil {
			continue // connected: a client socket, not a receiver
		}
		ports[port] = true
	}
	return ports
}

// stopPushReceiver ends the receiver goroutine of a naming client that CloseClient closed:
// a datagram wakes its read, after which it sees the client's context done, returns and
// closes its socket. It returns once the socket is closed, or after a second.
func stopPushReceiver(port int) bool {
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return false
	}
	defer c.Close()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		// Not JSON: the receiver logs it and drops it without answering.
		_, _ = c.Write([]byte("tianshu: closing"))
		time.Sleep(10 * time.Millisecond)
		if !pushListeners()[port] {
			return true
		}
	}
	return false
}
