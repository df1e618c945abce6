package benchmarks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/tagnet/tagnet/preprocess"
)

// photoSet is a folder of photographs the directory benchmarks predict.
type photoSet struct {
	name  string
	dir   string
	files []string
	// peer says whether sharp's prebuilt libvips reads the format (it has
	// no HEVC decoder, so no HEIC).
	peer bool
}

// photoSets makes, in a temporary folder: "darknet", the six photographs
// of scripts/setup.sh (0.2–1.4 megapixels) copied to 96 files;
// "12mp-jpeg", 128 copies (four batches, so that decoding can overlap the
// session) of a 4032×3024 JPEG (quality 90, 4:2:0) made by upscaling one of
// them, the size a phone camera writes; and "12mp-heic", 32 copies of the
// same picture as HEIC (heif-enc, quality 90; HEVC decodes slowly), when
// heif-enc is installed (scripts/setup.sh --node-peer).
func photoSets(b *testing.B) []photoSet {
	b.Helper()
	root := b.TempDir()
	names, photos := predPhotos(b)
	mk := func(name string, n int, content func(i int) (string, []byte)) photoSet {
		s := photoSet{name: name, dir: filepath.Join(root, name), peer: true}
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			base, data := content(i)
			path := filepath.Join(s.dir, fmt.Sprintf("%03d-%s", i, base))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				b.Fatal(err)
			}
			s.files = append(s.files, path)
		}
		return s
	}
	sets := []photoSet{mk("darknet", 96, func(i int) (string, []byte) {
		return names[i%len(names)], photos[i%len(photos)]
	})}

	big := upscale(b, photos[slices.Index(names, "dog.jpg")], 4032, 3024)
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, big, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	sets = append(sets, mk("12mp-jpeg", 128, func(int) (string, []byte) { return "phone.jpg", jpg.Bytes() }))

	heifEnc, err := exec.LookPath("heif-enc")
	if err != nil {
		b.Log("12mp-heic skipped: heif-enc is not installed (scripts/setup.sh --node-peer)")
		return sets
	}
	src := filepath.Join(root, "phone.jpg")
	heic := filepath.Join(root, "phone.heic")
	if err := os.WriteFile(src, jpg.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(heifEnc, "-q", "90", "-o", heic, src).CombinedOutput(); err != nil {
		b.Fatalf("heif-enc: %v\n%s", err, out)
	}
	data, err := os.ReadFile(heic)
	if err != nil {
		b.Fatal(err)
	}
	s := mk("12mp-heic", 32, func(int) (string, []byte) { return "phone.heic", data })
	s.peer = false
	return append(sets, s)
}

// upscale decodes a photograph and scales it bilinearly to w×h.
func upscale(b *testing.B, data []byte, w, h int) image.Image {
	m, err := preprocess.Decode(data, preprocess.DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	src := image.NewNRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := range m.Width * m.Height {
		copy(src.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		src.Pix[4*i+3] = 0xff
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

var (
	predictCLIOnce sync.Once
	predictCLI     string
	predictCLIErr  error
)

// buildPredictCLI builds cmd/tagnet-predict once per process.
func buildPredictCLI(b *testing.B) string {
	b.Helper()
	predictCLIOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tagnet-bench-")
		if err != nil {
			predictCLIErr = err
			return
		}
		predictCLI = filepath.Join(dir, "tagnet-predict")
		out, err := exec.Command("go", "build", "-o", predictCLI, "../cmd/tagnet-predict").CombinedOutput()
		if err != nil {
			predictCLIErr = fmt.Errorf("go build ./cmd/tagnet-predict: %v\n%s", err, out)
		}
	})
	if predictCLIErr != nil {
		b.Fatal(predictCLIErr)
	}
	return predictCLI
}

// dirRun is one prediction run over a folder by a separate process.
type dirRun struct {
	rate   float64 // images/s, as the process measured from its first decode to its last row
	peakMB float64 // the process's peak resident set, MB (10^6 bytes)
}

// runProcess runs cmd, returning its standard output and error, and its
// peak resident set in MB. The peak is the kernel's high-water mark of the
// process's own memory (VmHWM in /proc/PID/status), read every 20 ms until
// it exits: getrusage's ru_maxrss would not do, because a child forked
// from this large test process starts its count from the parent's size.
func runProcess(b *testing.B, cmd *exec.Cmd) ([]byte, float64) {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", cmd.Args[0], err)
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		var hwm float64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, ok := vmHWM(status); ok {
				hwm = max(hwm, v)
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	hwm := <-peak
	if err != nil {
		b.Fatalf("%s: %v\n%s", cmd.Args[0], err, stderr.String())
	}
	return append(stdout.Bytes(), stderr.Bytes()...), hwm
}

// vmHWM reads the VmHWM line of a /proc/PID/status file, in MB (10^6
// bytes); ok is false once the process is gone.
func vmHWM(status string) (float64, bool) {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(data) {
		if rest, found := bytes.CutPrefix(line, []byte("VmHWM:")); found {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseFloat(string(f[0]), 64)
				return kb * 1024 / 1e6, err == nil
			}
		}
	}
	return 0, false
}

// runTagnet runs `tagnet-predict predict` over set with batches of 32 and
// threads intra-op threads, writing a CSV, and reads its rate from its
// JSON log line "prediction finished".
func runTagnet(b *testing.B, bin, model string, set photoSet, threads int) dirRun {
	b.Helper()
	out := filepath.Join(b.TempDir(), "out.csv")
	cmd := exec.Command(bin, "predict", "--model", model, "--predict.batch-size", "32",
		"--runtime.intra-op-threads", strconv.Itoa(threads), "--thresholds.strategy", "fixed:0.5",
		"--log-format", "json", "-o", out, set.dir)
	logs, peak := runProcess(b, cmd)
	sc := bufio.NewScanner(bytes.NewReader(logs))
	for sc.Scan() {
		var rec struct {
			Msg  string  `json:"msg"`
			OK   int     `json:"ok"`
			Rate float64 `json:"images_per_second"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "prediction finished" {
			if rec.OK != len(set.files) {
				b.Fatalf("tagnet-predict predicted %d of %d files\n%s", rec.OK, len(set.files), logs)
			}
			return dirRun{rate: rec.Rate, peakMB: peak}
		}
	}
	b.Fatalf("tagnet-predict logged no \"prediction finished\" line:\n%s", logs)
	return dirRun{}
}

// runSharpPeer runs peer/photos.js (sharp + onnxruntime-node) over set.
func runSharpPeer(b *testing.B, model string, set photoSet, threads int) dirRun {
	b.Helper()
	modules, err := filepath.Abs(nodePeerModules)
	if err != nil {
		b.Fatal(err)
	}
	args := append([]string{"peer/photos.js", "--model", model, "--size", strconv.Itoa(predInputSize),
		"--resize", strconv.Itoa(preprocess.Default(predInputSize).ResizeWidth),
		"--batch", "32", "--threads", strconv.Itoa(threads)}, set.files...)
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, peak := runProcess(b, cmd)
	var res struct {
		OK   int     `json:"ok"`
		Rate float64 `json:"images_per_second"`
	}
	line := bytes.TrimSpace(out)
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal(line, &res); err != nil || res.OK != len(set.files) {
		b.Fatalf("sharp peer: %v, %d of %d files\n%s", err, res.OK, len(set.files), out)
	}
	return dirRun{rate: res.Rate, peakMB: peak}
}

// sharpPeerReady reports whether node, onnxruntime-node and sharp are
// installed, installing them with scripts/setup.sh --node-peer when npm is
// there (as startNodePeer does).
func sharpPeerReady(b *testing.B) bool {
	b.Helper()
	if os.Getenv("TAGNET_BENCH_PEER") == "0" {
		return false
	}
	if _, err := exec.LookPath("node"); err != nil {
		b.Log("sharp peer skipped: node is not installed")
		return false
	}
	if _, err := os.Stat(filepath.Join(nodePeerModules, "sharp", "package.json")); err != nil {
		if out, err := exec.Command("bash", "../scripts/setup.sh", "--node-peer").CombinedOutput(); err != nil {
			b.Logf("sharp peer skipped: scripts/setup.sh --node-peer: %v\n%s", err, out)
			return false
		}
	}
	return true
}

// BenchmarkPhotoDirectory predicts folders of photographs end to end with
// `tagnet-predict predict` (a separate process: decoding through libvips
// with JPEG shrink-on-load, batches of 32, ONNX Runtime on predThreads
// threads) and, interleaved in the same run, with the pipeline a Node.js
// user writes: sharp + onnxruntime-node (peer/photos.js), decoding the next
// batch while the session runs. Between the two, the session alone runs one
// batch of 32 ready images in this process.
//
// Reported (medians over the iterations): images/s and peer-images/s (each
// process's own figure, from its first decode to its last result, model
// loading excluded), peer-ratio (ours over the peer's), session-images/s
// and session-ratio (ours over the session-alone rate: how much of the
// model's speed the whole pipeline keeps), peak-rss-MB and
// peer-peak-rss-MB (each process's peak resident set). Where decoding
// and the session share few cores no pipeline reaches the session's rate:
// decode-ms is one file's preprocessing measured alone on one core, and
// cpu-ceiling-images/s the rate the cores allow when every image costs
// that (spread over GOMAXPROCS cores) plus its share of a session run;
// ceiling-ratio is ours over it (as BenchmarkDirectory).
//
//	scripts/setup.sh --node-peer
//	go test -run '^$' -bench '^BenchmarkPhotoDirectory$' -benchtime 3x -count 3 -timeout 60m ./benchmarks/ | tee photos.txt
//	benchstat photos.txt
func BenchmarkPhotoDirectory(b *testing.B) {
	m := newPredModels(b)
	bin := buildPredictCLI(b)
	threads := predThreads(b)
	peer := predProvider() == "cpu" && sharpPeerReady(b)
	for _, set := range photoSets(b) {
		for _, arch := range predArchs {
			b.Run(fmt.Sprintf("photos=%s/arch=%s", set.name, arch), func(b *testing.B) {
				model := m.path(b, arch)
				p := m.get(b, arch)
				const n = 32
				L, C := p.InputLen(), p.NumClasses()
				input, logits := predInput(n*L), make([]float32, n*C)
				session := func() float64 {
					start := time.Now()
					if err := p.ForwardInto(input, n, logits); err != nil {
						b.Fatal(err)
					}
					return n / time.Since(start).Seconds()
				}
				session() // warm-up
				var sample [][]byte
				for _, f := range set.files[:min(4, len(set.files))] {
					data, err := os.ReadFile(f)
					if err != nil {
						b.Fatal(err)
					}
					sample = append(sample, data)
				}
				decode := predDecodeCost(b, p, sample)
				var ours, theirs, alone, rss, peerRSS []float64
				for b.Loop() {
					r := runTagnet(b, bin, model, set, threads)
					ours, rss = append(ours, r.rate), append(rss, r.peakMB)
					b.StopTimer()
					if peer && set.peer {
						pr := runSharpPeer(b, model, set, threads)
						theirs, peerRSS = append(theirs, pr.rate), append(peerRSS, pr.peakMB)
					}
					alone = append(alone, session())
					b.StartTimer()
				}
				b.ReportMetric(median(ours), "images/s")
				b.ReportMetric(median(alone), "session-images/s")
				b.ReportMetric(median(ours)/median(alone), "session-ratio")
				b.ReportMetric(slices.Max(rss), "peak-rss-MB")
				ceiling := 1 / (decode.Seconds()/float64(runtime.GOMAXPROCS(0)) + 1/median(alone))
				b.ReportMetric(ms(decode), "decode-ms")
				b.ReportMetric(ceiling, "cpu-ceiling-images/s")
				b.ReportMetric(median(ours)/ceiling, "ceiling-ratio")
				if len(theirs) > 0 {
					b.ReportMetric(median(theirs), "peer-images/s")
					b.ReportMetric(median(ours)/median(theirs), "peer-ratio")
					b.ReportMetric(slices.Max(peerRSS), "peer-peak-rss-MB")
				}
			})
		}
	}
}

// median returns the median of xs (the lower middle for an even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[(len(s)-1)/2]
}
