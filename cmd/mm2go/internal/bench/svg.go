package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// WriteSVG draws the report: throughput per copier (left) and latency
// percentiles per copier and load on a log scale (right). Plain SVG 1.1, no
// scripts or external resources, so that it renders on GitHub.
func (r *Report) WriteSVG(w io.Writer) {
	const width, height = 1280, 380
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	p, m := r.Params, r.Machine
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold" text-anchor="middle">%s</text>`+"\n", width/2,
		esc(fmt.Sprintf("mm2go bench: %d records x %d B over %d partitions", p.Records, p.Size, p.Partitions)))
	fmt.Fprintf(&b, `<text x="%d" y="36" font-size="11" fill="#555555" text-anchor="middle">%s</text>`+"\n", width/2,
		esc(fmt.Sprintf("%d CPUs (%s), %s, load average %.1f -> %.1f; brokers in-process (kfake): compare within this run only", m.CPUs, m.CPUModel, m.GoVersion, m.LoadAvgStart, m.LoadAvgEnd)))
	r.svgThroughput(&b, 20, 64, 400, 300)
	r.svgLatency(&b, 470, 64, 790, 300)
	b.WriteString("</svg>\n")
	io.WriteString(w, b.String())
}

var copierColors = map[string]string{CopierRaw: "#7f7f7f", CopierMM2go: "#1f77b4", CopierMM2goEOS: "#2ca02c", CopierKcat: "#ff7f0e", CopierNone: "#c7c7c7"}

// svgThroughput draws horizontal bars of MB/s, one per copier that ran.
func (r *Report) svgThroughput(b *strings.Builder, x, y, w, h int) {
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">Throughput (MB/s; label: vs raw, CPU s/GB)</text>`+"\n", x, y)
	var ran []CopyResult
	top := 0.0
	for _, c := range r.Copies {
		if c.Skipped == "" {
			ran = append(ran, c)
			top = max(top, c.MBPerSec)
		}
	}
	if len(ran) == 0 || top <= 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d">no copy finished</text>`+"\n", x, y+40)
		return
	}
	const labelW, rowH, barH = 60, 70, 34
	barMax := float64(w - labelW - 10)
	// The 95% of raw mark, behind the bars.
	if raw := ran[0]; raw.Copier == CopierRaw {
		mx := float64(x+labelW) + barMax*0.95*raw.MBPerSec/top
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-dasharray="4,3"/>`+"\n", mx, y+20, mx, y+30+len(ran)*rowH-20)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#d62728" font-size="11">95%% of raw</text>`+"\n", mx, y+30+len(ran)*rowH-6)
	}
	for i, c := range ran {
		ry := y + 30 + i*rowH
		bw := barMax * c.MBPerSec / top
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", x+labelW-8, ry+barH/2+4, esc(c.Copier))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x+labelW, ry, bw, barH, copierColors[c.Copier])
		label := fmt.Sprintf("%.1f MB/s, %.0f%%, %.1f CPU s/GB", c.MBPerSec, 100*c.RatioToCeiling, c.CPUSecondsPerGB)
		lx, anchor, fill := float64(x+labelW)+bw-6, "end", "#ffffff"
		if bw < barMax*0.6 { // too short to hold its label: put it after the bar
			lx, anchor, fill = float64(x+labelW)+bw+6, "start", "#000000"
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="%s" fill="%s">%s</text>`+"\n", lx, ry+barH/2+4, anchor, fill, esc(label))
	}
}

var quantileColors = []string{"#9ecae1", "#3182bd", "#08519c"}

// svgLatency draws grouped bars of p50, p99 and p99.9 per copier and load,
// on a log scale.
func (r *Report) svgLatency(b *strings.Builder, x, y, w, h int) {
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">End-to-end latency (ms, log scale; (1p): copier in one process with the brokers)</text>`+"\n", x, y)
	if len(r.Latency) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d">no latency phase</text>`+"\n", x, y+40)
		return
	}
	lo, hi := 25.0, 25.0 // the axis always shows the 25ms target
	for _, l := range r.Latency {
		for _, v := range []float64{l.P50Ms, l.P99Ms, l.P999Ms} {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	loExp := math.Floor(math.Log10(max(lo, 0.01)))
	hiExp := math.Ceil(math.Log10(hi))
	const axisW = 50
	top, bottom := float64(y+30), float64(y+h-40)
	plotX, plotW := float64(x+axisW), float64(w-axisW-10)
	yOf := func(v float64) float64 {
		v = max(v, math.Pow(10, loExp))
		return bottom - (bottom-top)*(math.Log10(v)-loExp)/(hiExp-loExp)
	}
	for e := loExp; e <= hiExp; e++ {
		gy := yOf(math.Pow(10, e))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", plotX, gy, plotX+plotW, gy)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", plotX-6, gy+4, trimFloat(math.Pow(10, e)))
	}
	groupW := plotW / float64(len(r.Latency))
	barW := min(28, (groupW-16)/3)
	for i, l := range r.Latency {
		gx := plotX + float64(i)*groupW + (groupW-3*barW)/2
		for j, v := range []float64{l.P50Ms, l.P99Ms, l.P999Ms} {
			by := yOf(v)
			bx := gx + float64(j)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				bx, by, barW-2, bottom-by, quantileColors[j], esc(fmt.Sprintf("%s (%s) at %d%%: %s %.2f ms", l.Copier, l.where(), l.LoadPercent, []string{"p50", "p99", "p99.9"}[j], v)))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>`+"\n", bx+(barW-2)/2, by-3, shortMs(v))
		}
		label := l.Copier
		if l.InProcess {
			label += " (1p)"
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", gx+1.5*barW, bottom+16, esc(label))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555">%d%% load</text>`+"\n", gx+1.5*barW, bottom+30, l.LoadPercent)
	}
	ty := yOf(25)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4,3"/>`+"\n", plotX, ty, plotX+plotW, ty)
	for j, name := range []string{"p50", "p99", "p99.9"} {
		lx := plotX + float64(j)*60
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n", lx, top-22, quantileColors[j], lx+16, top-12, name)
	}
	lx := plotX + 185
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4,3"/><text x="%.1f" y="%.1f" fill="#d62728">p99 target at 10%% load: 25 ms</text>`+"\n",
		lx, top-16, lx+20, top-16, lx+26, top-12)
}

// shortMs formats a latency for a bar label: 3 significant digits at most.
func shortMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func esc(s string) string { return html.EscapeString(s) }
