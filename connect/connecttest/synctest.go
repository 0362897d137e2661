package connecttest

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// VirtualOpts are the client options of a test that runs in a synctest
// bubble against clusters on vn (kfake.ListenFn(vn.Listen)): clients dial
// through vn and decompress with BubbleDecompressor. Give them to every
// client in the bubble, the worker's too (WorkerConfig's cluster Opts).
func VirtualOpts(vn *kfake.VirtualNetwork) []kgo.Opt {
	return []kgo.Opt{kgo.Dialer(vn.DialContext), kgo.WithDecompressor(BubbleDecompressor())}
}

// BubbleDecompressor returns a kgo.Decompressor for clients in a synctest
// bubble. kgo's default keeps zstd decoders in a pool and closes them from
// a finalizer, which runs outside any bubble; closing a decoder made inside
// one kills the test binary ("close of synctest channel from outside
// bubble"), whenever the collector gets to it, in whatever test runs then.
// mm2go's offset index producer writes zstd, so every reader of the index,
// and of a topic a test producer compressed with zstd, meets such batches.
// This decompressor makes a zstd decoder for each batch and closes it at
// once; other codecs go to kgo's default, which pools no zstd decoder for
// them.
func BubbleDecompressor() kgo.Decompressor { return bubbleDecompressor{kgo.DefaultDecompressor()} }

type bubbleDecompressor struct{ other kgo.Decompressor }

// maxBatch bounds a decompressed batch, as kgo.MaxDecompressBatchBytes
// does (1 GiB by default).
const maxBatch = 1 << 30

func (d bubbleDecompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	if codec != kgo.CodecZstd {
		return d.other.Decompress(src, codec)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBatch))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	defer dec.Close()
	return dec.DecodeAll(src, nil)
}
