package demo

import (
	"bytes"
	"debug/elf"
	bin "encoding/binary"
	"fmt"
	"strings"
)

// goBinary is a minimal 64-bit ELF executable that holds nothing but the build information
// the Go linker writes into .go.buildinfo — what debug/buildinfo, and so scanners, read of a
// Go binary: the toolchain, the main module and its dependencies. It does not run; it keeps
// the demo a few kilobytes and reproducible instead of embedding a compiled program.
func goBinary(goVersion, mainPath, mainVersion string, deps [][2]string) ([]byte, error) {
	var mod strings.Builder
	fmt.Fprintf(&mod, "path\t%s\nmod\t%s\t%s\t\n", mainPath, mainPath, mainVersion)
	for _, d := range deps {
		fmt.Fprintf(&mod, "dep\t%s\t%s\t\n", d[0], d[1])
	}
	fmt.Fprintf(&mod, "build\t-compiler=gc\nbuild\tGOOS=linux\nbuild\tGOARCH=amd64\n")
	// runtime/debug wraps the module information in these 16-byte markers.
	const infoStart, infoEnd = "0w\xaf\x0c\x92t\b\x02A\xe1\xc1\a\xe6\xd6\x18\xe6", "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"

	// The blob: a 32-byte header (magic, pointer size, flags: inline strings, little
	// endian), then the version and module strings, each after its varint length.
	var blob bytes.Buffer
	blob.WriteString("\xff Go buildinf:")
	blob.Write([]byte{8, 2})
	blob.Write(make([]byte, 16))
	for _, s := range []string{goVersion, infoStart + mod.String() + infoEnd} {
		blob.Write(bin.AppendUvarint(nil, uint64(len(s))))
		blob.WriteString(s)
	}
	names := "\x00.go.buildinfo\x00.shstrtab\x00"

	const (
		ehSize, phSize, shSize = 64, 56, 64
		base                   = 0x400000
	)
	dataOff := uint64(128) // after the ELF and program headers, 16-byte aligned as the reader wants
	namesOff := dataOff + uint64(blob.Len())
	shOff := (namesOff + uint64(len(names)) + 7) &^ 7

	var out bytes.Buffer
	le := bin.LittleEndian
	ident := [16]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	out.Write(ident[:])
	_ = bin.Write(&out, le, struct {
		Type, Machine              uint16
		Version                    uint32
		Entry, Phoff, Shoff        uint64
		Flags                      uint32
		Ehsize, Phentsize, Phnum   uint16
		Shentsize, Shnum, Shstrndx uint16
	}{uint16(elf.ET_EXEC), uint16(elf.EM_X86_64), uint32(elf.EV_CURRENT), 0, ehSize, shOff, 0,
		ehSize, phSize, 1, shSize, 3, 2})
	// One loadable, writable segment mapping the blob: where the reader looks it up.
	_ = bin.Write(&out, le, elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W),
		Off: dataOff, Vaddr: base + dataOff, Paddr: base + dataOff, Filesz: uint64(blob.Len()), Memsz: uint64(blob.Len()), Align: 16})
	out.Write(make([]byte, int(dataOff)-out.Len()))
	out.Write(blob.Bytes())
	out.WriteString(names)
	out.Write(make([]byte, int(shOff)-out.Len()))
	sections := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC | elf.SHF_WRITE), Addr: base + dataOff,
			Off: dataOff, Size: uint64(blob.Len()), Addralign: 16},
		{Name: uint32(strings.Index(names, ".shstrtab")), Type: uint32(elf.SHT_STRTAB), Off: namesOff, Size: uint64(len(names)), Addralign: 1},
	}
	for _, s := range sections {
		_ = bin.Write(&out, le, s)
	}
	return out.Bytes(), nil
}
