package quantize

import (
	"os"
	"testing"
)

// Whatever file it is given, Load refuses it or the model it accepts can be
// quantized without a panic.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"../samples/models/sample-tiny.onnx"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Load(b, 320)
		if err != nil {
			return
		}
		if _, err := m.ProbeModel(); err != nil {
			t.Fatal(err)
		}
		m.Quantize(flatRanges(m), Record{Method: MinMax})
	})
}
