package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/go-echarts/go-echarts/v2/render"
)

// echartsJS is Apache ECharts 5.5.1 (dist/echarts.min.js of the npm
// package; licence in assets/ECHARTS-LICENSE), inlined into every page so
// a report opens without a network.
//
//go:embed assets/echarts.min.js
var echartsJS string

// chart is one rendered chart of the page.
type chart struct {
	Element template.HTML
	Script  template.HTML
}

// snippet renders c, turning a panic of the chart library into an error.
func snippet(r render.Renderer) (c chart, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("render chart: %v", p)
		}
	}()
	s := r.RenderSnippet()
	return chart{Element: template.HTML(s.Element), Script: template.HTML(s.Script)}, nil
}

func (r *Report) markAreas() charts.SeriesOpts {
	var areas [][]opts.MarkAreaData
	for _, f := range r.Faults {
		name := f.Kind
		if f.Target != "" && f.Target != "all" {
			name += " " + f.Target
		}
		for _, w := range f.Windows {
			areas = append(areas, []opts.MarkAreaData{{Name: name, XAxis: w.StartS}, {XAxis: w.EndS}})
		}
	}
	return func(s *charts.SingleSeries) {
		charts.WithMarkAreaData(areas...)(s)
		charts.WithMarkAreaStyleOpts(opts.MarkAreaStyle{
			ItemStyle: &opts.ItemStyle{Color: "rgba(220, 60, 60, 0.12)"},
			Label:     &opts.Label{Show: opts.Bool(true), Position: "insideTop", Color: "#a33"},
		})(s)
	}
}

func (r *Report) lineChart(id, title, yName string, series []lineSeries) *charts.Line {
	c := charts.NewLine()
	c.SetGlobalOptions(
		charts.WithInitializationOpts(opts.Initialization{ChartID: id, Width: "1200px", Height: "420px"}),
		charts.WithTitleOpts(opts.Title{Title: title}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "30"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "s", Min: 0}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: yName}),
		charts.WithDataZoomOpts(opts.DataZoom{Type: "inside"}),
	)
	for i, s := range series {
		data := make([]opts.LineData, len(r.Series))
		for j, sec := range r.Series {
			data[j] = opts.LineData{Value: []any{sec.T, s.value(j)}}
		}
		so := []charts.SeriesOpts{charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)})}
		if i == 0 {
			so = append(so, r.markAreas())
		}
		c.AddSeries(s.name, data, so...)
	}
	return c
}

type lineSeries struct {
	name  string
	value func(i int) any
}

// WriteHTML writes the self-contained HTML page of the report.
func (r *Report) WriteHTML(w io.Writer) error {
	at := func(f func(i int) float64) func(int) any { return func(i int) any { return f(i) } }
	throughput := r.lineChart("throughput", "Throughput (messages per second)", "msg/s", []lineSeries{
		{"sent", at(func(i int) float64 { return float64(r.Series[i].Sent) })},
		{"acknowledged", at(func(i int) float64 { return float64(r.Series[i].Acked) })},
		{"processed", at(func(i int) float64 { return float64(r.Series[i].Processed) })},
		{"failed or unknown", at(func(i int) float64 { return float64(r.Series[i].Failed) })},
		{"connections closed", at(func(i int) float64 { return float64(r.Series[i].Closes) })},
	})
	of := "sends"
	if len(r.Latency) > 0 {
		of = r.Latency[0].Of
	}
	latency := r.lineChart("latency", "Latency of "+of+" by second started (ms)", "ms", []lineSeries{
		{"p50", at(func(i int) float64 { return r.Series[i].P50 })},
		{"p99", at(func(i int) float64 { return r.Series[i].P99 })},
	})
	var cs []chart
	for _, c := range []*charts.Line{throughput, latency} {
		s, err := snippet(c)
		if err != nil {
			return err
		}
		cs = append(cs, s)
	}
	return page.Execute(w, struct {
		R      *Report
		Charts []chart
		JS     template.JS
		Events []string
	}{r, cs, template.JS(echartsJS), eventNames(brokerEvents(r))})
}

func brokerEvents(r *Report) map[string]int64 {
	switch {
	case r.Broker != nil:
		return r.Broker.Events
	case r.Router != nil:
		return r.Router.Events
	}
	return nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"verdict": func(ok bool) string {
		if ok {
			return "holds"
		}
		return "FAILS"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>chaos: {{.R.Scenario}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { margin-bottom: 4px; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #17692b; font-weight: 600; }
.bad { color: #b00020; font-weight: 700; }
.banner { padding: 10px 14px; font-size: 18px; border-radius: 4px; display: inline-block; }
.banner.ok { background: #e3f4e6; }
.banner.bad { background: #fbe4e7; }
code { background: #f3f3f3; padding: 1px 4px; }
</style>
<script>{{.JS}}</script>
</head>
<body>
<h1>{{.R.Scenario}}</h1>
<p class="sub">{{.R.Description}}</p>
<p>{{if .R.Holds}}<span class="banner ok">every invariant holds</span>{{else}}<span class="banner bad">an invariant fails</span>{{end}}
{{if .R.ExpectFail}} <em>(this scenario is expected to fail)</em>{{end}}</p>
<p>driver <code>{{.R.Driver}}</code>, backend <code>{{.R.Backend}}</code>, seed <code>{{.R.Seed}}</code>,
schedule <code>{{.R.Schedule}}</code>, started {{.R.Started}}, workload {{.R.DurationS}} s (last send done at {{.R.WorkloadS}} s, drained at {{.R.EndS}} s),
{{printf "%.0f" .R.RateProcessed}} messages processed per second.</p>

<h2>Verdict</h2>
<table>
<tr><th>invariant</th><th>observed</th><th>allowed</th><th>holds</th></tr>
{{range .R.Verdict}}<tr><td>{{.Invariant}}</td><td class="num">{{.Observed}}</td><td>{{.Allowed}}</td><td class="{{if .Holds}}ok{{else}}bad{{end}}">{{verdict .Holds}}</td></tr>
{{end}}</table>

{{range .Charts}}{{.Element}}{{end}}

<h2>Latency</h2>
<table>
<tr><th>window</th><th>of</th><th>count</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .R.Latency}}<tr><td>{{.Window}}</td><td>{{.Of}}</td><td class="num">{{.Count}}</td><td class="num">{{.P50}}</td><td class="num">{{.P90}}</td><td class="num">{{.P99}}</td><td class="num">{{.Max}}</td></tr>
{{end}}</table>

<h2>Counts</h2>
<table>
<tr><th>sends</th><th>acknowledged</th><th>failed</th><th>unknown</th><th>processed</th><th>lost</th><th>duplicated</th><th>unexpected</th><th>recovered</th><th>calls</th><th>calls ok</th><th>crossed replies</th></tr>
{{with .R.Counts}}<tr><td class="num">{{.Sends}}</td><td class="num">{{.Acked}}</td><td class="num">{{.Failed}}</td><td class="num">{{.Unknown}}</td><td class="num">{{.Processed}}</td><td class="num">{{.Lost}}</td><td class="num">{{.Duplicated}}</td><td class="num">{{.Unexpected}}</td><td class="num">{{.Recovered}}</td><td class="num">{{.Calls}}</td><td class="num">{{.CallsOK}}</td><td class="num">{{.Crossed}}</td></tr>{{end}}
</table>
{{with .R.Counts}}
{{if .LostIDs}}<p>lost, for example: {{range .LostIDs}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .DuplicatedIDs}}<p>duplicated, for example: {{range .DuplicatedIDs}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .UnexpectedIDs}}<p>unexpected, for example: {{range .UnexpectedIDs}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .RecoveredIDs}}<p>recovered, for example: {{range .RecoveredIDs}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .CrossedIDs}}<p>crossed replies, for example: {{range .CrossedIDs}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .Errors}}<h3>Send errors</h3><table><tr><th>error</th><th>count</th></tr>
{{range .Errors}}<tr><td>{{.Error}}</td><td class="num">{{.Count}}</td></tr>{{end}}</table>{{end}}
{{end}}

<h2>Faults</h2>
{{if .R.Faults}}<table>
<tr><th>kind</th><th>target</th><th>windows (s)</th><th>applied</th><th>acted on</th><th>errors</th></tr>
{{range .R.Faults}}<tr><td>{{.Kind}}</td><td>{{.Target}}</td><td>{{range .Windows}}{{.StartS}}–{{.EndS}} {{end}}</td><td class="num">{{.Applied}}</td><td class="num">{{.Acted}}</td><td>{{range .Errors}}{{.}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p>none</p>{{end}}

{{if .R.Broker}}<h2>Embedded broker</h2>
<table><tr><th>event</th><th>count</th></tr>
{{$ev := .R.Broker.Events}}{{range .Events}}<tr><td>{{.}}</td><td class="num">{{index $ev .}}</td></tr>
{{end}}</table>{{end}}

{{if .R.Router}}<h2>Embedded router{{if gt (len .R.Router.Totals) 1}}s ({{len .R.Router.Totals}}, meshed){{end}}</h2>
<table><tr><th>event</th><th>count</th></tr>
{{$ev := .R.Router.Events}}{{range .Events}}<tr><td>{{.}}</td><td class="num">{{index $ev .}}</td></tr>
{{end}}</table>{{end}}

{{if .R.Notes}}<h2>Notes</h2><ul>{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}

{{range .Charts}}{{.Script}}{{end}}
</body>
</html>
`))
