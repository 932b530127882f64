package gce

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"

	"github.com/bootapp/bootapp/image/internal/deflate"
	"github.com/bootapp/bootapp/image/memo"
	"github.com/bootapp/bootapp/internal/blocks"
)

// chunkSize is how much of the stream one worker compresses at a time.
// Each chunk has the previous 32 KiB as its dictionary, so chunking costs
// only the 5-byte empty block that ends each chunk; the output does not
// depend on the number of workers.
const chunkSize = 1 << 20

const dictSize = 32 << 10

// gzipWriter writes a gzip stream (RFC 1952) whose deflate data is
// compressed by package image/internal/deflate in chunks, on up to
// GOMAXPROCS goroutines, and written in order, as pigz does.
type gzipWriter struct {
	w       io.Writer
	buf     []byte // dictionary (dict bytes), then the current chunk
	dict    int
	crc     uint32
	size    uint32
	pending []*gzipChunk
	encs    chan *deflate.Encoder
	workers int
	err     error
	zero    []byte // the compressed form of a zero chunk after zeros, once known
	level   int
	memo    *memo.Store
}

// chunkStep names a chunk's deflate output in a memo.Store; the key's
// parameters are the level.
const chunkStep = "gzip-chunk/store-incompressible/" + deflate.Version

type gzipChunk struct {
	out  []byte
	done chan struct{}
}

func newGzipWriter(w io.Writer, level int, m *memo.Store) *gzipWriter {
	workers := runtime.GOMAXPROCS(0)
	g := &gzipWriter{w: w, workers: workers, encs: make(chan *deflate.Encoder, workers), level: level, memo: m}
	for range workers {
		enc := deflate.NewEncoder(level)
		// Random-looking data (a compressed initramfs) cannot shrink:
		// store it instead of searching it for matches.
		enc.StoreIncompressible = true
		g.encs <- enc
	}
	// Header: no name, no time, unknown OS, as Go's gzip writes it.
	_, g.err = w.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	g.buf = make([]byte, 0, chunkSize+dictSize)
	return g
}

func (g *gzipWriter) Write(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	g.crc = crc32.Update(g.crc, crc32.IEEETable, p)
	g.size += uint32(len(p))
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), chunkSize-(len(g.buf)-g.dict))
		g.buf = append(g.buf, p[:k]...)
		p = p[k:]
		if len(g.buf)-g.dict == chunkSize {
			if err := g.submit(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// submit hands the current chunk to a worker and starts the next one with
// its last 32 KiB as dictionary; it writes finished chunks out in order
// while too many are pending.
func (g *gzipWriter) submit() error {
	data, start := g.buf, g.dict
	c := &gzipChunk{done: make(chan struct{})}
	g.pending = append(g.pending, c)
	// Padding and plain holes are long runs of zeros, whose chunks all
	// compress to the same bytes: compress the first, reuse it.
	zero := len(data)-start == chunkSize && start == dictSize && blocks.IsZero(data)
	if zero && g.zero != nil {
		c.out = g.zero
		close(c.done)
	} else {
		go func() {
			var key memo.Key
			if g.memo != nil {
				key = memo.NewKey(chunkStep, uint64(g.level), data[:start], data[start:])
				var hit bool
				if c.out, hit = g.memo.Get(key, nil); hit {
					close(c.done)
					return
				}
			}
			enc := <-g.encs
			c.out = enc.Encode(make([]byte, 0, len(data)-start+len(data)/64+64), data, start, false)
			g.encs <- enc
			g.memo.Put(key, c.out)
			close(c.done)
		}()
		if zero {
			<-c.done
			g.zero = c.out
		}
	}
	g.dict = min(len(data), dictSize)
	g.buf = append(make([]byte, 0, chunkSize+dictSize), data[len(data)-g.dict:]...)
	for len(g.pending) > 2*g.workers {
		if err := g.writeOldest(); err != nil {
			return err
		}
	}
	return nil
}

func (g *gzipWriter) writeOldest() error {
	c := g.pending[0]
	<-c.done
	g.pending = g.pending[1:]
	if g.err == nil {
		_, g.err = g.w.Write(c.out)
	}
	return g.err
}

// Close compresses what is left, ends the deflate stream and writes the
// trailer (CRC-32 and size). It does not close the underlying writer.
func (g *gzipWriter) Close() error {
	if len(g.buf) > g.dict {
		g.submit()
	}
	for len(g.pending) > 0 {
		g.writeOldest()
	}
	if g.err != nil {
		return g.err
	}
	var t [10]byte
	t[0], t[1] = 0x03, 0x00 // a final, empty fixed-code block
	binary.LittleEndian.PutUint32(t[2:], g.crc)
	binary.LittleEndian.PutUint32(t[6:], g.size)
	_, g.err = g.w.Write(t[:])
	return g.err
}
