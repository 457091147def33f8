package grade

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labhub/labhub/store"
)

// CSV columns. Export writes all of them; import reads username, score and,
// when present, maximum and comment, and ignores the rest, so an exported
// file can be edited and imported again.
var csvHeader = []string{"username", "name", "email", "score", "maximum", "comment", "handed_in", "handins",
	"status", "status_detail"}

// ExportCSV writes the activity's roster with grades and delivery states.
func (s *Service) ExportCSV(ctx context.Context, a store.Activity, w io.Writer) error {
	rows, err := s.Roster(ctx, a)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, r := range rows {
		rec := []string{textCell(r.User.Name), textCell(r.User.DisplayName), textCell(r.User.Email), "", "", "", "",
			strconv.Itoa(r.Handins), "", ""}
		if g := r.Grade; g != nil {
			if g.Score != nil {
				rec[3] = FormatNumber(*g.Score)
			}
			rec[4] = FormatNumber(g.Maximum)
			rec[5] = textCell(g.Comment)
		}
		if r.Handin != nil {
			rec[6] = r.Handin.CreatedAt.UTC().Format(time.RFC3339)
		}
		st := Describe(r.Grade, r.Delivery)
		rec[8], rec[9] = st.State, st.Detail
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// NotUTF8 is the message for an imported file that is not UTF-8 text.
const NotUTF8 = "The file is not UTF-8 text. Save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8) and import it again."

// textCell quotes text for a spreadsheet: a cell starting with = + - @, a
// tab or a carriage return is a formula to Excel and its kin, so it gets a
// leading ' (OWASP's advice on CSV injection), as does a cell that starts
// with ' and then one of = + - @, so that the import, which takes one '
// off such a cell, gives back the text as it was.
func textCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	case '\'':
		if len(s) > 1 && strings.ContainsRune("=+-@", rune(s[1])) {
			return "'" + s
		}
	}
	return s
}

// untextCell undoes textCell: it takes one leading ' off a cell that goes
// on with = + - @, or with ' and one of those (a quoted cell that began
// with a quote).
func untextCell(s string) string {
	formula := func(s string) bool { return s != "" && strings.ContainsRune("=+-@", rune(s[0])) }
	if len(s) > 1 && s[0] == '\'' && (formula(s[1:]) || s[1] == '\'' && formula(s[2:])) {
		return s[1:]
	}
	return s
}

// maxImportRows bounds an imported file.
const maxImportRows = 20000

// ParseCSV reads grades from a CSV file with a header row naming at least
// the columns username and score; maximum and comment are optional. An
// empty score clears the person's grade. A missing or empty maximum keeps
// the grade's maximum (the activity's for a new grade); a missing comment
// column keeps the grades' comments. A semicolon-separated file (as
// spreadsheets write in locales with a decimal comma) may use decimal
// commas. users maps a username to its user id; a name missing from it is
// an error. Every problem is reported, with its line, before anything is
// written.
func ParseCSV(r io.Reader, users map[string]uint) ([]Entry, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &InputError{"The file could not be read."}
	}
	// Spreadsheets save CSV in the computer's legacy encoding (Latin-1,
	// Windows-1252) or UTF-16 unless told otherwise; csv would read such a
	// file as garbled text or fail on it with a misleading message.
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) || !utf8.Valid(data) {
		return nil, &InputError{NotUTF8}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	line, _, _ := strings.Cut(string(data[:min(len(data), 4096)]), "\n")
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	semicolon := strings.Count(line, ";") > strings.Count(line, ",")
	if semicolon {
		cr.Comma = ';'
	}
	header, err := cr.Read()
	if err != nil {
		return nil, &InputError{"The file is empty or not a CSV file."}
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	iUser, okUser := col["username"]
	iScore, okScore := col["score"]
	if !okUser || !okScore {
		return nil, &InputError{"The first line must name the columns, with at least username and score."}
	}
	iMax, hasMax := col["maximum"]
	iComment, hasComment := col["comment"]
	cell := func(rec []string, i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Entry
	var problems []string
	seen := map[string]int{}
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: not valid CSV", n))
			break
		}
		if n > maxImportRows {
			return nil, &InputError{fmt.Sprintf("The file has more than %d lines.", maxImportRows)}
		}
		name := strings.ToLower(untextCell(cell(rec, iUser)))
		if name == "" {
			if strings.TrimSpace(strings.Join(rec, "")) == "" {
				continue // blank line
			}
			problems = append(problems, fmt.Sprintf("line %d: no username", n))
			continue
		}
		uid, ok := users[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("line %d: %s is not in this course", n, name))
			continue
		}
		if prev, dup := seen[name]; dup {
			problems = append(problems, fmt.Sprintf("line %d: %s already appears on line %d", n, name, prev))
			continue
		}
		seen[name] = n
		e := Entry{UserID: uid}
		if v := cell(rec, iScore); v != "" {
			f, ok := parseNumber(v, semicolon)
			if !ok {
				problems = append(problems, fmt.Sprintf("line %d: score %q is not a number", n, v))
				continue
			}
			e.Score = &f
		}
		if hasMax {
			if v := cell(rec, iMax); v != "" {
				f, ok := parseNumber(v, semicolon)
				if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
					problems = append(problems, fmt.Sprintf(
						"line %d: maximum %q is not a positive number (leave it empty to keep the grade's maximum)", n, v))
					continue
				}
				if f > MaxMaximum {
					problems = append(problems, fmt.Sprintf("line %d: maximum %q is above %d", n, v, MaxMaximum))
					continue
				}
				e.Maximum = f
			}
		}
		if hasComment {
			e.Comment = untextCell(cell(rec, iComment))
		} else {
			e.KeepComment = true
		}
		out = append(out, e)
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("and %d more", len(problems)-10))
		}
		return nil, &InputError{"Nothing was imported: " + strings.Join(problems, "; ") + "."}
	}
	return out, nil
}

// parseNumber reads a decimal number; with decimalComma a comma may be
// the decimal separator.
func parseNumber(s string, decimalComma bool) (float64, bool) {
	if decimalComma && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}
