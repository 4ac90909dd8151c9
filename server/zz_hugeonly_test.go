package main

import "testing"

func BenchmarkHugeOnly(b *testing.B) { benchHugeRepository(b, 0) }
