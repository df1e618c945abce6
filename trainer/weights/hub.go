package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/tagnet/tagnet/internal/digest"
)

// DefaultBaseURL is where torchvision publishes its weights; a file is
// fetched from DefaultBaseURL + "/" + its name.
const DefaultBaseURL = "https://download.pytorch.org/models"

// CacheEnv names the environment variable that overrides the cache folder.
const CacheEnv = "TAGNET_CACHE_DIR"

// ErrChecksum is wrapped by errors about a file whose sha256 is not the
// published one.
var ErrChecksum = errors.New("checksum mismatch")

// ErrUnknownName is wrapped when a weights name is not published for an
// architecture.
var ErrUnknownName = errors.New("unknown weights name")

// Published is one of torchvision's published weight files.
type Published struct {
	// Arch is tagnet's architecture name (torchvision's model name).
	Arch string
	// Name is torchvision's weights name, e.g. "IMAGENET1K_V1".
	Name string
	// File is the published file name; the 8 hex digits after the last
	// '-' are the start of its sha256 (torch.hub's check_hash rule).
	File string
	// SHA256 is the file's full sha256 in hex, when known; "" means only
	// the file-name prefix is checked, as torch.hub does.
	SHA256 string
	// Mean and Std are the normalisation the weights were trained with
	// (ImageNet's, in RGB order, for values scaled to [0,1]).
	Mean, Std [3]float32
}

// ImageNet normalisation statistics, torchvision's ImageClassification
// transform (mean and std of the ImageNet training set).
var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406}
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// published lists torchvision's ResNet weights (torchvision.models.resnet:
// ResNet18_Weights, ResNet34_Weights, ResNet50_Weights). The full sha256 of
// resnet18-f37072fd.pth is recorded; for the others only the file-name
// prefix is known here and checked.
var published = []Published{
	{Arch: "resnet18", Name: "IMAGENET1K_V1", File: "resnet18-f37072fd.pth",
		SHA256: "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"},
	{Arch: "resnet34", Name: "IMAGENET1K_V1", File: "resnet34-b627a593.pth"},
	{Arch: "resnet50", Name: "IMAGENET1K_V1", File: "resnet50-0676ba61.pth"},
	{Arch: "resnet50", Name: "IMAGENET1K_V2", File: "resnet50-11ad3fa6.pth"},
}

// defaults maps an architecture to its DEFAULT weights name (torchvision:
// the best published weights).
var defaults = map[string]string{"resnet18": "IMAGENET1K_V1", "resnet34": "IMAGENET1K_V1", "resnet50": "IMAGENET1K_V2"}

var nameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// IsName reports whether s is written as a weights name (upper-case
// letters, digits and underscores, as torchvision's enum members) rather
// than a file path.
func IsName(s string) bool { return nameRE.MatchString(s) }

// Lookup returns the published weights called name for arch; "DEFAULT"
// resolves to torchvision's default for arch. The error lists what exists.
func Lookup(arch, name string) (Published, error) {
	if name == "DEFAULT" {
		d, ok := defaults[arch]
		if !ok {
			return Published{}, fmt.Errorf("%w: %s has no published weights (%s)", ErrUnknownName, arch, available())
		}
		name = d
	}
	for _, p := range published {
		if p.Arch == arch && p.Name == name {
			p.Mean, p.Std = imageNetMean, imageNetStd
			return p, nil
		}
	}
	return Published{}, fmt.Errorf("%w: %s for %s (published: %s)", ErrUnknownName, name, arch, available())
}

func available() string {
	var s []string
	for _, p := range published {
		s = append(s, p.Arch+" "+p.Name)
	}
	for a, n := range defaults {
		s = append(s, a+" DEFAULT="+n)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// HashPrefix is the sha256 prefix in a torch.hub file name: the part after
// the last '-' of the base name without extension ("resnet18-f37072fd.pth"
// gives "f37072fd"); "" when there is none.
func HashPrefix(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	i := strings.LastIndexByte(base, '-')
	if i < 0 {
		return ""
	}
	h := base[i+1:]
	if len(h) < 6 {
		return ""
	}
	if _, err := hex.DecodeString(strings.Repeat("0", len(h)%2) + h); err != nil {
		return ""
	}
	return strings.ToLower(h)
}

// Verify checks a sha256 (hex) against p: its file-name prefix, and the
// full table entry when there is one.
func (p Published) Verify(sum string) error {
	if pre := HashPrefix(p.File); pre != "" && !strings.HasPrefix(sum, pre) {
		return fmt.Errorf("%w: %s has sha256 %s, its name says %s…", ErrChecksum, p.File, sum, pre)
	}
	if p.SHA256 != "" && sum != p.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, want %s", ErrChecksum, p.File, sum, p.SHA256)
	}
	return nil
}

// FetchOptions configures [Fetch]. The zero value downloads from
// DefaultBaseURL into [CacheDir]'s folder with http.DefaultClient and
// shows no progress.
type FetchOptions struct {
	// BaseURL replaces DefaultBaseURL (a mirror, a test server); "" means
	// DefaultBaseURL. The file's URL is BaseURL + "/" + Published.File.
	BaseURL string
	// Dir is the cache folder; "" means CacheDir().
	Dir string
	// Client makes the request; nil means http.DefaultClient.
	Client *http.Client
	// Progress receives a progress bar while downloading; nil means none.
	Progress io.Writer
}

// CacheDir is where downloaded weights are kept: $TAGNET_CACHE_DIR when
// set, else os.UserCacheDir()/tagnet/weights.
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache folder (set $%s): %w", CacheEnv, err)
	}
	return filepath.Join(d, "tagnet", "weights"), nil
}

// FetchResult says where the weights are and how they got there.
type FetchResult struct {
	Path       string // the verified file in the cache
	Downloaded bool   // false when the cached copy was used
	Refetched  bool   // a damaged cached copy was replaced
	URL        string // where it was (or would have been) downloaded from
}

// Fetch returns the path of p's file in the cache, downloading it first
// when it is missing or its cached copy fails verification. The download
// goes to a temporary file in the cache folder that is renamed into place
// only once its length and sha256 are right, so the cache never holds a
// partial or unverified file under the published name. Network failures
// give one error naming the URL, the file name and the folder to put it
// in by hand.
func Fetch(ctx context.Context, p Published, opt FetchOptions) (*FetchResult, error) {
	dir := opt.Dir
	if dir == "" {
		var err error
		if dir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	base := strings.TrimRight(opt.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	res := &FetchResult{Path: filepath.Join(dir, p.File), URL: base + "/" + p.File}
	if sum, err := digest.File(res.Path); err == nil {
		if p.Verify(sum) == nil {
			return res, nil
		}
		res.Refetched = true // damaged: fetch again
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading cached weights %s: %w", res.Path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the weights cache: %w", err)
	}
	if err := download(ctx, res.URL, p, res.Path, opt); err != nil {
		return nil, fmt.Errorf("downloading %s weights %s: %w (offline: fetch %s elsewhere and put it in %s)",
			p.Arch, p.Name, err, res.URL, dir)
	}
	res.Downloaded = true
	return res, nil
}

func download(ctx context.Context, url string, p Published, dst string, opt FetchOptions) (err error) {
	client := opt.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(tmp, h)
	if opt.Progress != nil {
		bar := progressbar.NewOptions64(resp.ContentLength,
			progressbar.OptionSetWriter(opt.Progress), progressbar.OptionSetDescription(p.File),
			progressbar.OptionShowBytes(true), progressbar.OptionThrottle(100_000_000), // 100 ms
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }))
		w = io.MultiWriter(w, bar)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: after %d bytes: %w", url, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("GET %s: truncated: %d of %d bytes", url, n, resp.ContentLength)
	}
	if err := verifyHash(p, h); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func verifyHash(p Published, h hash.Hash) error {
	return p.Verify(hex.EncodeToString(h.Sum(nil)))
}
