// Command tcpproxy connects its standard input and output to a TCP
// address: QEMU's guestfwd=...-cmd: starts it for each connection the
// guest makes, so the end-to-end tests can put a metadata service on the
// host behind 169.254.169.254.
package main

import (
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: tcpproxy HOST:PORT\n")
		os.Exit(2)
	}
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	go func() {
		io.Copy(c, os.Stdin)
		c.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(os.Stdout, c)
}
