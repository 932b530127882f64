package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/smithy-go"
)

func client(s *Server, secret string) *ebs.Client {
	return ebs.New(ebs.Options{
		Region: s.Region, BaseEndpoint: aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(AccessKeyID, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// The server refuses what AWS documents as invalid.
func TestServerRules(t *testing.T) {
	s := New(t, "us-west-2")
	ctx := context.Background()
	c := client(s, SecretAccessKey)

	if _, err := client(s, "wrong").StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)}); code(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
	resp, err := http.Post(s.URL+"/snapshots", "application/json", strings.NewReader(`{"VolumeSize":1}`))
	if err != nil || resp.StatusCode != 403 {
		t.Errorf("unsigned request: %v %v", resp, err)
	}
	if _, err := c.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(MaxVolumeSize + 1)}); code(err) != "ValidationException" {
		t.Errorf("65537 GiB: %v", err)
	}
	out, err := c.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := out.SnapshotId
	put := func(idx int32, data []byte, sum string) error {
		_, err := c.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
			SnapshotId: id, BlockIndex: aws.Int32(idx), BlockData: bytes.NewReader(data),
			DataLength: aws.Int32(int32(len(data))), Checksum: aws.String(sum),
			ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		})
		return err
	}
	blk := make([]byte, BlockSize)
	blk[0] = 1
	h := sha256.Sum256(blk)
	good := base64.StdEncoding.EncodeToString(h[:])
	if err := put(0, blk, "AAAA"); code(err) != "ValidationException" {
		t.Errorf("bad checksum: %v", err)
	}
	if err := put(0, blk[:4096], "AAAA"); code(err) != "ValidationException" {
		t.Errorf("short block: %v", err)
	}
	if err := put(2048, blk, good); code(err) != "ValidationException" {
		t.Errorf("block past the end of a 1 GiB volume: %v", err)
	}
	if _, err := c.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: id, ChangedBlocksCount: aws.Int32(1)}); code(err) != "ValidationException" {
		t.Errorf("ChangedBlocksCount 1 with no block written: %v", err)
	}
	if err := put(5, blk, good); err != nil {
		t.Fatalf("good block: %v", err)
	}
	if _, err := c.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: id, ChangedBlocksCount: aws.Int32(1)}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if err := put(6, blk, good); code(err) != "ValidationException" {
		t.Errorf("block written after completion: %v", err)
	}
	if sn := s.Snapshots()[*id]; sn.Status != "completed" || len(sn.Blocks) != 1 || !bytes.Equal(sn.Blocks[5], blk) {
		t.Errorf("snapshot %s: %s, %d blocks", *id, sn.Status, len(sn.Blocks))
	}
	if len(s.Rejected()) < 4 {
		t.Errorf("rejected: %v", s.Rejected())
	}
}
