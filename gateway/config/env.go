package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "SHIMING_"

// ApplyEnv overrides scalar fields from environment variables named after
// their YAML path: SHIMING_LISTEN, SHIMING_STORAGE_DSN,
// SHIMING_SANDBOX_ENABLED, SHIMING_LIMITS_SMS_PER_DAY. Lists and maps are
// set in the file only. lookup is os.LookupEnv in production. Every
// unparsable value is reported, with the variable's name.
func ApplyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	var problems Problems
	applyEnv(reflect.ValueOf(cfg).Elem(), EnvPrefix, lookup, &problems)
	return problems.Err()
}

// EnvNames lists every variable ApplyEnv reads, sorted.
func EnvNames() []string {
	var names []string
	var cfg Config
	walkEnv(reflect.ValueOf(&cfg).Elem(), EnvPrefix, func(name string, _ reflect.Value) { names = append(names, name) })
	sort.Strings(names)
	return names
}

var durationType = reflect.TypeOf(Duration(0))

func walkEnv(v reflect.Value, prefix string, visit func(string, reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct:
			walkEnv(fv, name+"_", visit)
		case fv.Kind() == reflect.String, fv.Kind() == reflect.Bool, fv.Kind() == reflect.Int, fv.Type() == durationType:
			visit(name, fv)
		}
	}
}

func applyEnv(v reflect.Value, prefix string, lookup func(string) (string, bool), problems *Problems) {
	walkEnv(v, prefix, func(name string, fv reflect.Value) {
		s, ok := lookup(name)
		if !ok {
			return
		}
		switch {
		case fv.Type() == durationType:
			d, err := time.ParseDuration(s)
			if err != nil {
				problems.Add(name, fmt.Sprintf("%q is not a duration like 30s or 5m", s))
				return
			}
			fv.SetInt(int64(d))
		case fv.Kind() == reflect.String:
			fv.SetString(s)
		case fv.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				problems.Add(name, fmt.Sprintf("%q is not true or false", s))
				return
			}
			fv.SetBool(b)
		case fv.Kind() == reflect.Int:
			n, err := strconv.Atoi(s)
			if err != nil {
				problems.Add(name, fmt.Sprintf("%q is not a whole number", s))
				return
			}
			fv.SetInt(int64(n))
		}
	})
}
