package proxy

import "testing"

// TestCopyBuffersBounded lends big copy buffers to at most bigBuffers copies at once; the
// rest get small ones, and a returned big buffer is lent again.
func TestCopyBuffersBounded(t *testing.T) {
	var lent [][]byte
	for range bigBuffers {
		lent = append(lent, bufferPool{}.Get())
	}
	for i, b := range lent {
		if len(b) != bigBuffer {
			t.Fatalf("buffer %d: %d bytes, want %d", i, len(b), bigBuffer)
		}
	}
	extra := bufferPool{}.Get()
	if len(extra) != smallBuffer {
		t.Fatalf("past the bound: %d bytes, want %d", len(extra), smallBuffer)
	}
	bufferPool{}.Put(extra)
	bufferPool{}.Put(lent[0])
	again := bufferPool{}.Get()
	if len(again) != bigBuffer {
		t.Fatalf("after a big buffer came back: %d bytes, want %d", len(again), bigBuffer)
	}
	for _, b := range append(lent[1:], again) {
		bufferPool{}.Put(b)
	}
	if n := len(bigLent); n != 0 {
		t.Fatalf("%d big buffers still counted as lent", n)
	}
}
