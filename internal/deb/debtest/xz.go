package debtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/crc64"

	"github.com/ulikunitz/xz/lzma"
)

// XZBlocks compresses data as an xz stream the way liblzma's
// multi-threaded encoder (and so dpkg-deb) lays it out: independent
// blocks of blockSize uncompressed bytes whose headers carry both sizes,
// a CRC64 check per block, the index and the footer. (The xz package's
// own writer leaves the sizes out of the block headers.) Empty data gives
// a stream without blocks, as xz(1) writes.
func XZBlocks(data []byte, blockSize int) ([]byte, error) {
	if blockSize <= 0 {
		return nil, fmt.Errorf("debtest: block size %d", blockSize)
	}
	le := binary.LittleEndian
	var out bytes.Buffer
	flags := []byte{0, 4} // CRC64
	out.Write([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	out.Write(flags)
	binary.Write(&out, le, crc32.ChecksumIEEE(flags))
	type record struct{ unpadded, uncompressed uint64 }
	var records []record
	tab := crc64.MakeTable(crc64.ECMA)
	for off := 0; off < len(data); off += blockSize {
		chunk := data[off:min(off+blockSize, len(data))]
		var comp bytes.Buffer
		w, err := lzma.Writer2Config{DictCap: 1 << 16}.NewWriter2(&comp)
		if err != nil {
			return nil, err
		}
		w.Write(chunk)
		if err := w.Close(); err != nil {
			return nil, err
		}
		// Block header: size byte, flags (one filter, both sizes),
		// sizes, LZMA2 filter (id 0x21, 1 property byte), padding, CRC32.
		h := []byte{0, 0xc0}
		h = binary.AppendUvarint(h, uint64(comp.Len()))
		h = binary.AppendUvarint(h, uint64(len(chunk)))
		h = append(h, 0x21, 1, lzma.EncodeDictCap(1<<16))
		for (len(h)+4)%4 != 0 {
			h = append(h, 0)
		}
		h[0] = byte((len(h)+4)/4 - 1)
		h = le.AppendUint32(h, crc32.ChecksumIEEE(h))
		out.Write(h)
		out.Write(comp.Bytes())
		unpadded := len(h) + comp.Len()
		out.Write(make([]byte, (4-unpadded%4)%4))
		out.Write(le.AppendUint64(nil, crc64.Checksum(chunk, tab)))
		records = append(records, record{uint64(unpadded + 8), uint64(len(chunk))})
	}
	index := []byte{0}
	index = binary.AppendUvarint(index, uint64(len(records)))
	for _, r := range records {
		index = binary.AppendUvarint(index, r.unpadded)
		index = binary.AppendUvarint(index, r.uncompressed)
	}
	for len(index)%4 != 0 {
		index = append(index, 0)
	}
	index = le.AppendUint32(index, crc32.ChecksumIEEE(index))
	out.Write(index)
	foot := le.AppendUint32(nil, uint32(len(index)/4-1))
	foot = append(foot, flags...)
	out.Write(le.AppendUint32(nil, crc32.ChecksumIEEE(foot)))
	out.Write(foot)
	out.WriteString("YZ")
	return out.Bytes(), nil
}
