package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/ort"
	"github.com/vise-edge/vise/quantize"
)

// QuantizeReport is what `vise-infer quantize -o json` prints.
type QuantizeReport = quantize.Report

// fewImagesWarning is given for a calibration set of one image.
const fewImagesWarning = "calibrated on a single image: its activation ranges may not cover what the line shows; use 20-200 images like the ones the model will see"

// quantizeFlags are quantize's flags beyond the common ones.
type quantizeFlags struct {
	common
	calib, out string
	method     quantize.Method
	bits       int
	pct        float64
}

func parseQuantizeFlags(args []string) (quantizeFlags, error) {
	fs := flag.NewFlagSet("quantize", flag.ContinueOnError)
	var f quantizeFlags
	f.register(fs)
	fs.StringVar(&f.calib, "calibration", "", "folder of JPEG/PNG images to calibrate activation ranges on")
	fs.StringVar(&f.out, "out", "", "where to write the INT8 model")
	method := fs.String("method", string(quantize.Percentile), "activation ranges: percentile or minmax")
	fs.IntVar(&f.bits, "weight-bits", 7, "weight range: 7 (safe on every x86-64 CPU) or 8 (CPUs with VNNI, ARM)")
	fs.Float64Var(&f.pct, "percentile", 99.99, "for --method percentile: the share of values (%) each range keeps on each side")
	if err := parse(fs, args); err != nil {
		return f, err
	}
	var err error
	if f.method, err = quantize.ParseMethod(*method); err != nil {
		return f, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case f.bits != 7 && f.bits != 8:
		return f, fmt.Errorf("%w: --weight-bits %d: use 7 or 8", errUsage, f.bits)
	case f.model == "":
		return f, fmt.Errorf("%w: pass --model FILE.onnx", errUsage)
	case f.calib == "":
		return f, fmt.Errorf("%w: pass --calibration DIR (images like the ones the model will see)", errUsage)
	case f.out == "":
		return f, fmt.Errorf("%w: pass --out FILE.onnx", errUsage)
	}
	return f, nil
}

func quantizeCmd(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	f, err := parseQuantizeFlags(args)
	if err != nil {
		return err
	}
	start := time.Now()
	paths, err := calibrationImages(f.calib)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(f.model)
	if err != nil {
		return err
	}
	model, err := quantize.Load(raw, f.size)
	if err != nil {
		return fmt.Errorf("quantize %s: %w", f.model, err)
	}
	rep := QuantizeReport{Model: f.model, Out: f.out, Method: f.method, WeightBits: f.bits, CalibrationImages: len(paths), Tensors: len(model.Tensors())}
	if f.method == quantize.Percentile {
		rep.Percentile = f.pct
	}
	if len(paths) == 1 {
		rep.Warnings = append(rep.Warnings, fewImagesWarning)
		log.Warn(fewImagesWarning, "calibration", f.calib)
	}
	if rep.CalibrationDigest, err = filesDigest(paths); err != nil {
		return err
	}
	ranges, err := calibrate(ctx, f.common, model, paths, f.method, f.pct)
	if err != nil {
		return err
	}
	q, err := model.Quantize(ranges, quantize.Record{Method: f.method, Percentile: rep.Percentile, CalibrationImages: len(paths),
		CalibrationDigest: rep.CalibrationDigest, ParentSHA256: sha256Hex(raw), WeightBits: f.bits})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(f.out, q); err != nil {
		return err
	}
	rep.QuantizedNodes, rep.Seconds = model.Nodes(), time.Since(start).Seconds()
	if f.output == "json" {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "wrote %s: %d nodes in INT8, activations calibrated (%s) on %d images in %.1fs\n",
		rep.Out, rep.QuantizedNodes, rep.Method, rep.CalibrationImages, rep.Seconds)
	return nil
}

// calibrate runs the float model over the images with every tensor to be
// quantized as an output, preprocessing each image exactly as inference does.
func calibrate(ctx context.Context, c common, model *quantize.Model, paths []string, m quantize.Method, pct float64) (map[string]quantize.Range, error) {
	if err := ort.Init(c.ortLib); err != nil {
		return nil, err
	}
	probeModel, err := model.ProbeModel()
	if err != nil {
		return nil, err
	}
	ct := model.Contract
	probe, err := ort.OpenProbe(probeModel, ct.Input, model.Tensors(), ct.Width, ct.Height, c.threads)
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	// Calibration sees images as inference will: the same decoder (DCT
	// scaling included) and the same fill.
	dec, err := newDecoder(0, ct.Width, ct.Height)
	if err != nil {
		return nil, err
	}
	defer dec.close()
	var fill infer.Filler
	return quantize.Calibrate(model.Tensors(), m, pct, func(visit quantize.Visit) error {
		for _, path := range paths {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, err := dec.load(path)
			if err != nil {
				return fmt.Errorf("calibration image: %w (remove it from the folder or replace it)", err)
			}
			fill.Fill(infer.NewLetterbox(d.w, d.h, ct.Width, ct.Height), d.px, probe.Input())
			if err := probe.Run(visit); err != nil {
				return fmt.Errorf("calibration run on %s: %w", path, err)
			}
		}
		return nil
	})
}

// calibrationImages lists the JPEG and PNG files of dir, refusing a folder
// without any and naming what it holds instead.
func calibrationImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("calibration folder: %w", err)
	}
	var images, others []string
	for _, e := range entries {
		switch {
		case e.IsDir() || strings.HasPrefix(e.Name(), "."):
		case isImage(e.Name()):
			images = append(images, filepath.Join(dir, e.Name()))
		default:
			others = append(others, e.Name())
		}
	}
	if len(images) > 0 {
		return images, nil
	}
	if len(others) == 0 {
		return nil, fmt.Errorf("calibration folder %s is empty: put 20-200 JPEG or PNG images like the ones the model will see in it", dir)
	}
	return nil, fmt.Errorf("calibration folder %s has no JPEG or PNG images (.jpg, .jpeg, .png), only %d other files (%s): put images like the ones the model will see in it",
		dir, len(others), strings.Join(others[:min(3, len(others))], ", "))
}

// filesDigest identifies a calibration set by content: the sha256 of the
// sorted "sha256  name" lines of its files.
func filesDigest(paths []string) (string, error) {
	lines := make([]string, 0, len(paths))
	for _, p := range paths {
		sum, err := deviceapi.FileSHA256(p)
		if err != nil {
			return "", err
		}
		lines = append(lines, sum+"  "+filepath.Base(p)+"\n")
	}
	slices.Sort(lines)
	return sha256Hex([]byte(strings.Join(lines, ""))), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFileAtomic writes through a temporary file and a rename, so a
// failed run never leaves half a model at path.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".quantize-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
