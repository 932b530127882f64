package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/sync/errgroup"

	"github.com/bootapp/bootapp/builder"
	"github.com/bootapp/bootapp/image/sparse"
)

// snapshotTimeout is StartSnapshot's Timeout in minutes: a snapshot left
// pending (the process was killed) is cancelled by EBS after it.
const snapshotTimeout = 60

// uploadStats counts what an upload sent.
type uploadStats struct {
	blocks, bytes int64
}

// block is one 512 KiB block to send.
type block struct {
	index int64
	data  []byte
}

// BlockIndexes returns the indexes of the 512 KiB blocks that the extents
// touch, in increasing order, each once.
func BlockIndexes(extents []sparse.Extent) []int64 {
	var out []int64
	next := int64(0) // first index not yet listed
	for _, e := range extents {
		if e.Len <= 0 {
			continue
		}
		first, last := e.Off/BlockSize, (e.End()-1)/BlockSize
		first = max(first, next)
		for i := first; i <= last; i++ {
			out = append(out, i)
		}
		next = max(next, last+1)
	}
	return out
}

var zeroBlock = make([]byte, BlockSize)

// upload writes the file f into a new snapshot and waits until it is
// completed. The snapshot is recorded for cleanup as soon as it exists.
func (p *publisher) upload(ctx context.Context, f builder.File, role string, tags map[string]string) (string, uploadStats, error) {
	var st uploadStats
	fd, err := os.Open(f.Path)
	if err != nil {
		return "", st, fmt.Errorf("upload %s: %w", f.Path, err)
	}
	defer fd.Close()
	extents, err := sparse.Extents(fd)
	if err != nil {
		return "", st, fmt.Errorf("upload %s: %w", f.Path, err)
	}
	size := f.Size
	gib := max((size+(1<<30)-1)>>30, 1)

	var etags []ebstypes.Tag
	for _, k := range sortedKeys(tags) {
		etags = append(etags, ebstypes.Tag{Key: sdkaws.String(k), Value: sdkaws.String(tags[k])})
	}
	etags = append(etags, ebstypes.Tag{Key: sdkaws.String("bootapp:role"), Value: sdkaws.String(role)})
	out, err := p.ebs.StartSnapshot(ctx, &ebs.StartSnapshotInput{
		VolumeSize:  sdkaws.Int64(gib),
		Description: sdkaws.String(p.o.Description),
		Tags:        etags,
		Timeout:     sdkaws.Int32(snapshotTimeout),
	})
	if err != nil {
		return "", st, fmt.Errorf("start a %d GiB snapshot for %s in %s: %w", gib, f.Path, p.region, authError(err, p.region))
	}
	id := sdkaws.ToString(out.SnapshotId)
	p.snapshots = append(p.snapshots, id)
	if bs := sdkaws.ToInt32(out.BlockSize); bs != 0 && bs != BlockSize {
		return id, st, fmt.Errorf("snapshot %s has %d-byte blocks, this publisher writes %d", id, bs, BlockSize)
	}
	p.logf("uploading %s (%d bytes) into snapshot %s", f.Path, size, id)

	indexes := BlockIndexes(extents)
	var sum hash.Hash
	if role == "boot" && f.SHA256 != "" {
		sum = sha256.New()
	}
	g, gctx := errgroup.WithContext(ctx)
	blocks := make(chan block, p.o.Concurrency)
	sent := make([]uploadStats, p.o.Concurrency)
	g.Go(func() error {
		defer close(blocks)
		hashed := int64(0) // bytes of the image fed to sum
		for _, idx := range indexes {
			buf := make([]byte, BlockSize)
			off := idx * BlockSize
			n, err := fd.ReadAt(buf, off)
			if err != nil && err != io.EOF {
				return fmt.Errorf("read %s at %d: %w", f.Path, off, err)
			}
			if sum != nil {
				if err := zeros(sum, off-hashed); err != nil {
					return err
				}
				sum.Write(buf[:n])
				hashed = off + int64(n)
			}
			if bytes.Equal(buf, zeroBlock) {
				continue
			}
			select {
			case blocks <- block{idx, buf}:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		if sum != nil {
			return zeros(sum, size-hashed)
		}
		return nil
	})
	total := int64(len(indexes))
	for w := 0; w < p.o.Concurrency; w++ {
		g.Go(func() error {
			for b := range blocks {
				h := sha256.Sum256(b.data)
				_, err := p.ebs.PutSnapshotBlock(gctx, &ebs.PutSnapshotBlockInput{
					SnapshotId:        sdkaws.String(id),
					BlockIndex:        sdkaws.Int32(int32(b.index)),
					BlockData:         bytes.NewReader(b.data),
					DataLength:        sdkaws.Int32(BlockSize),
					Checksum:          sdkaws.String(base64.StdEncoding.EncodeToString(h[:])),
					ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
					Progress:          sdkaws.Int32(int32(min(100, 100*(b.index+1)/max(total, 1)))),
				})
				if err != nil {
					return fmt.Errorf("write block %d of %s into snapshot %s: %w", b.index, f.Path, id, err)
				}
				sent[w].blocks++
				sent[w].bytes += BlockSize
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return id, st, fmt.Errorf("upload %s: %w", f.Path, ctx.Err())
		}
		return id, st, err
	}
	for _, s := range sent {
		st.blocks += s.blocks
		st.bytes += s.bytes
	}
	if sum != nil {
		if got := hex.EncodeToString(sum.Sum(nil)); got != f.SHA256 {
			return id, st, fmt.Errorf("%w: %s has sha256 %s, the manifest says %s: it changed since the build", ErrInput, f.Path, got, f.SHA256)
		}
	}
	cout, err := p.ebs.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{
		SnapshotId:         sdkaws.String(id),
		ChangedBlocksCount: sdkaws.Int32(int32(st.blocks)),
	})
	if err != nil {
		return id, st, fmt.Errorf("complete snapshot %s: %w", id, err)
	}
	if cout.Status == ebstypes.StatusError {
		return id, st, fmt.Errorf("complete snapshot %s: EBS says its status is error", id)
	}
	if err := p.waitSnapshot(ctx, id); err != nil {
		return id, st, err
	}
	p.logf("snapshot %s completed: %d of %d blocks held data, %d bytes sent", id, st.blocks, (size+BlockSize-1)/BlockSize, st.bytes)
	return id, st, nil
}

// zeros feeds n zero bytes to h.
func zeros(h hash.Hash, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeroBlock)))
		h.Write(zeroBlock[:k])
		n -= k
	}
	return nil
}

// waitSnapshot polls DescribeSnapshots until the snapshot is completed.
func (p *publisher) waitSnapshot(ctx context.Context, id string) error {
	delay := 200 * time.Millisecond
	for {
		out, err := p.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err != nil {
			return fmt.Errorf("wait for snapshot %s: %w", id, err)
		}
		if len(out.Snapshots) == 1 {
			switch s := out.Snapshots[0]; s.State {
			case "completed":
				return nil
			case "error":
				return fmt.Errorf("snapshot %s failed: %s", id, sdkaws.ToString(s.StateMessage))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for snapshot %s: %w", id, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
