package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// The metadata services are reached over plain HTTP on a link-local
// address. The init speaks the little HTTP/1.1 it needs itself: net/http
// would add crypto/tls and about 3 MB to the init, which every image
// carries.

// imdsAddr is the metadata services' address on every cloud the init
// knows (GCP's metadata.google.internal resolves to it too).
const imdsAddr = "169.254.169.254:80"

// imdsRequestTimeout bounds one HTTP exchange with a metadata service,
// which answers within milliseconds.
const imdsRequestTimeout = 2 * time.Second

// errNoUserData says the instance has no user-data.
var errNoUserData = errors.New("no user-data")

// imdsClient fetches user-data from a metadata service at addr.
type imdsClient struct {
	addr string // host:port
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newIMDSClient(addr string) *imdsClient {
	var d net.Dialer
	return &imdsClient{addr: addr, dial: d.DialContext}
}

// httpResponse is a response's status and body.
type httpResponse struct {
	status int
	body   []byte
}

// do sends one request and reads the response, its body up to limit
// bytes.
func (c *imdsClient) do(ctx context.Context, method, path string, header map[string]string, limit int64) (*httpResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, imdsRequestTimeout)
	defer cancel()
	conn, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(c.addr)
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bootapp-init\r\nConnection: close\r\n", method, path, host)
	for k, v := range header {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	if method == "PUT" || method == "POST" {
		req.WriteString("Content-Length: 0\r\n")
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return nil, err
	}
	return readResponse(bufio.NewReader(conn), limit)
}

// readResponse parses an HTTP/1.x response with a Content-Length, a
// chunked body or a body that ends with the connection.
func readResponse(r *bufio.Reader, limit int64) (*httpResponse, error) {
	tp := textproto.NewReader(r)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("read status line: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || status < 100 || status > 999 {
		return nil, fmt.Errorf("bad status line %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var body io.Reader = r
	switch {
	case strings.EqualFold(h.Get("Transfer-Encoding"), "chunked"):
		body = &chunkedReader{r: r}
	case h.Get("Content-Length") != "":
		n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad Content-Length %q", h.Get("Content-Length"))
		}
		if n > limit {
			return nil, fmt.Errorf("body of %d bytes is larger than %d", n, limit)
		}
		body = io.LimitReader(r, n)
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("body is larger than %d bytes", limit)
	}
	return &httpResponse{status: status, body: b}, nil
}

// chunkedReader decodes an HTTP/1.1 chunked body.
type chunkedReader struct {
	r    *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("chunk size: %w", err)
		}
		size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		// Each chunk ends with CRLF.
		if _, err := c.r.Discard(2); err != nil {
			return n, fmt.Errorf("chunk end: %w", err)
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// maxUserData bounds the user-data read (AWS allows 16 KiB, Azure 64 KiB
// base64-encoded).
const maxUserData = 96 << 10

// userData fetches the instance's user-data from cloud cl's metadata
// service. It returns errNoUserData when the instance has none.
func (c *imdsClient) userData(ctx context.Context, cl cloud) ([]byte, error) {
	var resp *httpResponse
	var err error
	switch cl {
	case cloudAWS:
		// IMDSv2: a session token first (PUT), then the document.
		resp, err = c.do(ctx, "PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "300"}, 4096)
		if err != nil {
			return nil, fmt.Errorf("IMDSv2 token: %w", err)
		}
		hdr := map[string]string{}
		switch resp.status {
		case 200:
			hdr["X-aws-ec2-metadata-token"] = strings.TrimSpace(string(resp.body))
		case 403, 404, 405:
			// IMDSv1 only (an old or emulated service): no token.
		default:
			return nil, fmt.Errorf("IMDSv2 token: HTTP %d", resp.status)
		}
		resp, err = c.do(ctx, "GET", "/latest/user-data", hdr, maxUserData)
	case cloudGCP:
		resp, err = c.do(ctx, "GET", "/computeMetadata/v1/instance/attributes/user-data", map[string]string{"Metadata-Flavor": "Google"}, maxUserData)
	case cloudAzure:
		resp, err = c.do(ctx, "GET", "/metadata/instance/compute/userData?api-version=2021-01-01&format=text", map[string]string{"Metadata": "true"}, maxUserData)
	case cloudOpenStack:
		resp, err = c.do(ctx, "GET", "/openstack/latest/user_data", nil, maxUserData)
	default:
		return nil, errNoUserData
	}
	if err != nil {
		return nil, err
	}
	switch {
	case resp.status == 404:
		return nil, errNoUserData
	case resp.status != 200:
		return nil, fmt.Errorf("HTTP %d", resp.status)
	}
	body := resp.body
	if cl == cloudAzure {
		// Azure serves userData base64-encoded.
		s := strings.TrimSpace(string(body))
		if s == "" {
			return nil, errNoUserData
		}
		if body, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("decode Azure userData: %w", err)
		}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, errNoUserData
	}
	return body, nil
}

// fetchUserData asks until the service answers or ctx ends: right after
// boot the metadata service may not be reachable yet. The waits between
// attempts come from backoff.
func (c *imdsClient) fetchUserData(ctx context.Context, cl cloud) ([]byte, error) {
	var last error
	for attempt := 0; ; attempt++ {
		b, err := c.userData(ctx, cl)
		if err == nil || errors.Is(err, errNoUserData) {
			return b, err
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(backoff(attempt, 250*time.Millisecond, 4*time.Second)):
		}
	}
}

// backoff returns the wait after failed attempt n (0 for the first):
// first, doubling up to most.
func backoff(n int, first, most time.Duration) time.Duration {
	d := first
	for i := 0; i < n && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}
