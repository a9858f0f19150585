package catalog

import (
	"bytes"
	_ "embed"
	"fmt"
	"time"
)

// sampleCSV is a provincial civil-service catalog modelled on Hunan's 2022
// exam: five exam areas, 22 units and 63 positions, all fictional.
//
//go:embed sample/hunan2022.csv
var sampleCSV []byte

// SampleCSV returns the sample catalog file, which also documents the
// columns in its comment lines.
func SampleCSV() []byte { return bytes.Clone(sampleCSV) }

// Sample returns the sample catalog, with the 2022 registration window
// (2022-02-27 09:00 to 2022-03-05 17:00).
func Sample() (Catalog, error) {
	c, err := ReadCSV(bytes.NewReader(sampleCSV))
	if err != nil {
		return Catalog{}, fmt.Errorf("catalog: sample: %w", err)
	}
	return c, nil
}

// SampleOpenAt returns the sample catalog with each registration window
// moved by whole days so that it opened at its usual hour the day before
// now and keeps its length. The embedded demo uses it so that the steps can
// be walked at any time; the age reference day is kept.
func SampleOpenAt(now time.Time) (Catalog, error) {
	c, err := Sample()
	if err != nil {
		return Catalog{}, err
	}
	for i, e := range c.Exams {
		sy, sm, sd := e.Start.In(shanghai).Date()
		ny, nm, nd := now.In(shanghai).Date()
		days := int(time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC).Sub(time.Date(sy, sm, sd, 0, 0, 0, 0, time.UTC)).Hours()/24) - 1
		c.Exams[i].Start = e.Start.AddDate(0, 0, days)
		c.Exams[i].End = e.End.AddDate(0, 0, days)
	}
	return c, nil
}
