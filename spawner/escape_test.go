package spawner_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/labhub/labhub/spawner"
)

// dockerNameRE is the engine's rule for container and volume names.
var dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// unescape inverts the unshortened escaping, so a test can show that nothing
// is lost: a-z and 0-9 stand for themselves, "-xx" for the byte 0xxx.
func unescape(t *testing.T, s string) string {
	t.Helper()
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b = append(b, c)
		case c == '-' && i+2 < len(s):
			digits := s[i+1 : i+3]
			v, err := hex.DecodeString(digits)
			if err != nil || strings.ToLower(digits) != digits {
				t.Fatalf("bad escape %q in %q at %d (digits must be lowercase hex)", digits, s, i)
			}
			b = append(b, v[0])
			i += 2
		default:
			t.Fatalf("unexpected byte %q in %q at %d", c, s, i)
		}
	}
	return string(b)
}

// shortened builds the bounded form of an escaped string from its parts, as
// the documentation of Escape describes it.
func shortened(input, fullEscape string) string {
	sum := sha256.Sum256([]byte(input))
	return fullEscape[:48] + "--" + hex.EncodeToString(sum[:16])
}

func TestEscapeKnownAnswers(t *testing.T) {
	t.Parallel()
	// Expected values follow DockerSpawner's escaping (escapism, safe
	// [a-z0-9], '-' escapes, result lower-cased), so that names of an old
	// deployment are recognised.
	cases := []struct {
		name, in, want string
	}{
		{"plain", "alice", "alice"},
		{"digits", "u2024", "u2024"},
		{"uppercase", "Alice", "-41lice"},
		{"dot", "a.b", "a-2eb"},
		{"dash", "a-b", "a-2db"},
		{"underscore", "a_b", "a-5fb"},
		{"leading underscore", "_x", "-5fx"},
		{"email", "a@x.org", "a-40x-2eorg"},
		{"short email", "a@b.c", "a-40b-2ec"},
		{"tilde", "~u", "-7eu"},
		{"space", "a b", "a-20b"},
		{"slash", "a/b", "a-2fb"},
		{"path traversal", "../etc", "-2e-2e-2fetc"},
		{"nul byte", "a\x00b", "a-00b"},
		{"newline", "a\nb", "a-0ab"},
		{"invalid utf-8", "\xff\xfe", "-ff-fe"},
		{"nfc e acute", "\u00e9", "-c3-a9"},
		{"nfd e acute", "e\u0301", "e-cc-81"},
		{"cjk", "日本", "-e6-97-a5-e6-9c-ac"},
		{"emoji", "😀", "-f0-9f-98-80"},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := spawner.Escape(tc.in)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.in, unescape(t, got))
		})
	}
}

func TestEscapeKeepsNormalizationFormsApart(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
	}{
		{"e acute", "José"},
		{"a ring", "Ångström"},
		{"hangul", "한국"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nfc, nfd := norm.NFC.String(tc.in), norm.NFD.String(tc.in)
			require.NotEqual(t, nfc, nfd, "the case must have distinct NFC and NFD forms")
			require.NotEqual(t, spawner.Escape(nfc), spawner.Escape(nfd))
			require.Equal(t, nfd, unescape(t, spawner.Escape(nfd)))
		})
	}
}

func TestEscapeLengthBound(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		in        string
		shortened bool
	}{
		{"63 bytes", strings.Repeat("a", 63), false},
		{"64 bytes", strings.Repeat("a", 64), false},
		{"65 bytes", strings.Repeat("a", 65), true},
		{"64 with escapes", "A" + strings.Repeat("b", 61), false},
		{"65 ending in an escape", strings.Repeat("b", 62) + ".", true},
		{"63 ending in an escape", strings.Repeat("b", 60) + ".", false},
		{"cut inside an escape", strings.Repeat("b", 46) + "é" + strings.Repeat("c", 20), true},
		{"cut after the dash", strings.Repeat("b", 47) + "éé" + strings.Repeat("c", 20), true},
		{"200 ascii", strings.Repeat("x", 200), true},
		{"200 unicode", strings.Repeat("ü", 200), true},
		{"200 emoji", strings.Repeat("🎓", 200), true},
		{"one megabyte", strings.Repeat("Q", 1<<20), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := spawner.Escape(tc.in)
			full := strings.TrimPrefix(spawner.LegacyHomeVolumeName(tc.in), "jupyterhub-user-")
			require.Equal(t, tc.in, unescape(t, full))
			if !tc.shortened {
				require.LessOrEqual(t, len(full), 64)
				require.Equal(t, full, got)
				require.NotContains(t, got, "--")
				return
			}
			require.Greater(t, len(full), 64)
			require.Len(t, got, 82)
			require.Equal(t, shortened(tc.in, full), got)
			require.Contains(t, got, "--")
		})
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	cases := []struct {
		name, user, server string
		container, home    string
	}{
		{"plain", "alice", "intro", "labhub-alice--intro", "labhub-home-alice--intro"},
		{"escaped", "A.b", "c-1", "labhub--41-2eb--c-2d1", "labhub-home--41-2eb--c-2d1"},
		{"empty", "", "", "labhub---", "labhub-home---"},
		{"long", long, long,
			"labhub-" + spawner.Escape(long) + "--" + spawner.Escape(long),
			"labhub-home-" + spawner.Escape(long) + "--" + spawner.Escape(long)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.container, spawner.ContainerName(tc.user, tc.server))
			require.Equal(t, tc.home, spawner.HomeVolumeName(tc.user, tc.server))
			require.Equal(t, "labhub-shared-"+spawner.Escape(tc.server), spawner.SharedVolumeName(tc.server))
		})
	}
	require.Equal(t, "jupyterhub-user-a-40x-2eorg", spawner.LegacyHomeVolumeName("a@x.org"))
}

// randomName draws a name from alphabets chosen to provoke collisions:
// characters that escape to dashes, case pairs, normalization pairs, and
// lengths around the bound.
func randomName(r *rand.Rand) string {
	alphabets := [][]string{
		{"a", "b", "-", ".", "_", "A", "B"},
		{"a", "2", "d", "e", "-", "2d", "2e"},
		{"e", "\u00e9", "e\u0301", "\u0301", "ß", "日", "😀", "\xff"},
		{"x", "@", "~", " ", "/", "%", "+", "0"},
	}
	alpha := alphabets[r.IntN(len(alphabets))]
	// Lengths cluster near the 64-byte bound (about 21 to 65 characters of
	// one to three escaped bytes each), with some short and long ones.
	var n int
	switch r.IntN(4) {
	case 0:
		n = r.IntN(6)
	case 1:
		n = 15 + r.IntN(55)
	case 2:
		n = 60 + r.IntN(10)
	default:
		n = r.IntN(220)
	}
	var b strings.Builder
	for range n {
		b.WriteString(alpha[r.IntN(len(alpha))])
	}
	return b.String()
}

func TestNamesAreDistinctAndDockerSafe(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0x1ab))

	inputs := map[string]bool{}
	for len(inputs) < 10000 {
		inputs[randomName(r)] = true
	}
	// Inputs built to share a shortened prefix and differ only at the end.
	prefix := strings.Repeat("p", 48)
	for i := range 500 {
		inputs[prefix+fmt.Sprint(i)+strings.Repeat("q", 20)] = true
	}
	list := make([]string, 0, len(inputs))
	for in := range inputs {
		list = append(list, in)
	}

	escaped := map[string]string{}
	for _, in := range list {
		e := spawner.Escape(in)
		if prev, dup := escaped[e]; dup {
			t.Fatalf("Escape(%q) == Escape(%q) == %q", in, prev, e)
		}
		escaped[e] = in
		if len(e) > 82 {
			t.Fatalf("Escape(%q) is %d bytes", in, len(e))
		}
	}

	containers := map[string][2]string{}
	homes := map[string][2]string{}
	for range 30000 {
		pair := [2]string{list[r.IntN(len(list))], list[r.IntN(len(list))]}
		c := spawner.ContainerName(pair[0], pair[1])
		h := spawner.HomeVolumeName(pair[0], pair[1])
		for _, name := range []string{c, h, spawner.SharedVolumeName(pair[1])} {
			if !dockerNameRE.MatchString(name) || len(name) > 200 {
				t.Fatalf("name %q (%d bytes) is not a valid Docker name of at most 200 bytes", name, len(name))
			}
		}
		if prev, ok := containers[c]; ok && prev != pair {
			t.Fatalf("container name %q for %q and %q", c, prev, pair)
		}
		if prev, ok := homes[h]; ok && prev != pair {
			t.Fatalf("home volume %q for %q and %q", h, prev, pair)
		}
		containers[c], homes[h] = pair, pair
	}
}

func TestNamesSplitUnambiguously(t *testing.T) {
	t.Parallel()
	// Each pair of (user, server) pairs below puts the "--" separator, the
	// "--" of a shortened part or an escaped dash at the same place.
	p := strings.Repeat("u", 47)
	cases := []struct {
		name string
		a, b [2]string
	}{
		{"dash moved between parts", [2]string{"a-", "b"}, [2]string{"a", "-b"}},
		{"separator inside server", [2]string{"a", "-"}, [2]string{"a-", ""}},
		{"shortened user vs short user", [2]string{p + "." + strings.Repeat("v", 30), "s"},
			[2]string{p, "." + strings.Repeat("v", 30) + "s"}},
		{"shortened user vs dotted user", [2]string{strings.Repeat("w", 48) + strings.Repeat("z", 17), "s"},
			[2]string{strings.Repeat("w", 48), strings.Repeat("z", 17) + "s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEqual(t, tc.a, tc.b)
			require.NotEqual(t, spawner.ContainerName(tc.a[0], tc.a[1]), spawner.ContainerName(tc.b[0], tc.b[1]))
			require.NotEqual(t, spawner.HomeVolumeName(tc.a[0], tc.a[1]), spawner.HomeVolumeName(tc.b[0], tc.b[1]))
		})
	}
}

func TestVolumeFromTemplate(t *testing.T) {
	for _, tc := range []struct{ template, user, server, want string }{
		// DockerSpawner's names, as jupyterhub-deploy-docker configured them.
		{"jupyterhub-user-{username}", "student.one@uni.edu", "lti101", "jupyterhub-user-student-2eone-40uni-2eedu"},
		{"jupyterhub-user-{username}", "Alice", "c", "jupyterhub-user--41lice"},
		{"home-{username}-{course}", "a-b", "lab_1", "home-a-2db-lab-5f1"},
		{"{username}--{servername}", "u", "s", "u--s"},
	} {
		got, err := spawner.VolumeFromTemplate(tc.template, tc.user, tc.server)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	for _, bad := range []string{"{user}", "", "has space-{username}", "-{username}"} {
		_, err := spawner.VolumeFromTemplate(bad, "u", "s")
		require.Error(t, err, "%q", bad)
	}
	_, err := spawner.VolumeFromTemplate("jupyterhub-user-{username}", strings.Repeat("é", 100), "s")
	require.Error(t, err, "longer than a volume name may be")
}
