package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/registration"
)

// runCatalog implements `shiming catalog import FILE.csv`: every bad line
// is reported and nothing is imported unless the whole file is valid.
func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return usagef("usage: shiming catalog import [--config FILE] [--data DIR] FILE.csv")
	}
	fs := flag.NewFlagSet("catalog import", flag.ContinueOnError)
	var c commonFlags
	c.register(fs, false)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: shiming catalog import [--config FILE] [--data DIR] FILE.csv")
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := registration.ImportCSV(ctx, st, f)
	if err != nil {
		return fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(0), err)
	}
	log := audit.New(st, timeNow, newLogger(cfg.Log, stderr))
	if err := log.Record(ctx, audit.KindImport, "cli", strings.Join(sum.Exams, ","), map[string]string{
		"file": fs.Arg(0), "areas": fmt.Sprint(sum.Areas), "units": fmt.Sprint(sum.Units), "positions": fmt.Sprint(sum.Positions),
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s: %d areas, %d units, %d positions\n", strings.Join(sum.Exams, ", "), sum.Areas, sum.Units, sum.Positions)
	return nil
}
