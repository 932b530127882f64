package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeIMDS serves user-data the way each cloud's metadata service does,
// refusing requests without the cloud's headers.
func fakeIMDS(t *testing.T, userData string, chunked bool) *httptest.Server {
	t.Helper()
	const token = "tok-123"
	write := func(w http.ResponseWriter, s string) {
		if chunked {
			w.Write([]byte(s[:len(s)/2]))
			w.(http.Flusher).Flush()
			w.Write([]byte(s[len(s)/2:]))
			return
		}
		w.Write([]byte(s))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "missing TTL", http.StatusBadRequest)
			return
		}
		w.Write([]byte(token))
	})
	mux.HandleFunc("GET /latest/user-data", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-aws-ec2-metadata-token") != token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if userData == "" {
			http.NotFound(w, r)
			return
		}
		write(w, userData)
	})
	mux.HandleFunc("GET /computeMetadata/v1/instance/attributes/user-data", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if userData == "" {
			http.NotFound(w, r)
			return
		}
		write(w, userData)
	})
	mux.HandleFunc("GET /metadata/instance/compute/userData", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") == "" || r.URL.Query().Get("format") != "text" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		write(w, base64.StdEncoding.EncodeToString([]byte(userData))+"\n")
	})
	mux.HandleFunc("GET /openstack/latest/user_data", func(w http.ResponseWriter, r *http.Request) {
		if userData == "" {
			http.NotFound(w, r)
			return
		}
		write(w, userData)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestUserData(t *testing.T) {
	const doc = `{"env": {"GREETING": "from the cloud"}}`
	for _, chunked := range []bool{false, true} {
		srv := fakeIMDS(t, doc, chunked)
		c := newIMDSClient(strings.TrimPrefix(srv.URL, "http://"))
		for _, cl := range []cloud{cloudAWS, cloudGCP, cloudAzure, cloudOpenStack} {
			b, err := c.userData(context.Background(), cl)
			if err != nil || string(b) != doc {
				t.Errorf("%s (chunked %v): %q, %v; want %q", cl, chunked, b, err, doc)
			}
		}
	}
	empty := newIMDSClient(strings.TrimPrefix(fakeIMDS(t, "", false).URL, "http://"))
	for _, cl := range []cloud{cloudAWS, cloudGCP, cloudAzure, cloudOpenStack, cloudNone} {
		if _, err := empty.userData(context.Background(), cl); !errors.Is(err, errNoUserData) {
			t.Errorf("%s without user-data: %v, want errNoUserData", cl, err)
		}
	}
}

// TestFetchUserDataRetries checks that a metadata service that is not
// reachable yet is asked again, and that the wait is bounded by ctx.
func TestFetchUserDataRetries(t *testing.T) {
	c := newIMDSClient("127.0.0.1:1") // nothing listens on port 1
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.fetchUserData(ctx, cloudAWS)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		in      string
		status  int
		body    string
		wantErr bool
	}{
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", status: 200, body: "hello"},
		{in: "HTTP/1.0 404 Not Found\r\n\r\nnope", status: 404, body: "nope"},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", status: 200, body: "abcde"},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n", wantErr: true},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: true},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", wantErr: true},
		{in: "SSH-2.0-OpenSSH\r\n", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		r, err := readResponse(bufio.NewReader(strings.NewReader(tt.in)), 1000)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		if err != nil || r.status != tt.status || string(r.body) != tt.body {
			t.Errorf("%q: %+v, %v", tt.in, r, err)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readResponse(bufio.NewReader(strings.NewReader(string(b))), 512)
		if err == nil && len(r.body) > 512 {
			t.Fatalf("body of %d bytes over the limit", len(r.body))
		}
	})
}
