/**
 * The comparison chart of BENCHMARKS.md as a self-contained SVG: throughput per workload and
 * client count, raftkv and etcd side by side, on a linear axis per workload.
 */

interface Cell {
  readonly kind: string;
  readonly clients: number;
  readonly raftkv: { readonly ops: number };
  readonly etcd: { readonly ops: number };
}

export function renderChart(cells: readonly Cell[]): string {
  const kinds = [...new Set(cells.map((c) => c.kind))];
  const panelW = 320;
  const panelH = 220;
  const margin = { top: 40, left: 60, bottom: 40 };
  const width = kinds.length * panelW + margin.left;
  const height = panelH + margin.top + margin.bottom + 30;
  const colors = { raftkv: '#2b6cb0', etcd: '#dd6b20' };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">Throughput (ops/s), higher is better</text>`,
  ];
  kinds.forEach((kind, k) => {
    const rows = cells.filter((c) => c.kind === kind);
    const max = Math.max(1, ...rows.flatMap((r) => [r.raftkv.ops, r.etcd.ops]).filter(Number.isFinite));
    const x0 = margin.left + k * panelW;
    const y0 = margin.top;
    const groupW = (panelW - 40) / rows.length;
    parts.push(
      `<text x="${x0 + (panelW - 40) / 2}" y="${y0 - 6}" text-anchor="middle" font-size="12">${kind}</text>`,
    );
    parts.push(
      `<line x1="${x0}" y1="${y0 + panelH}" x2="${x0 + panelW - 40}" y2="${y0 + panelH}" stroke="#333"/>`,
    );
    parts.push(`<text x="${x0 - 4}" y="${y0 + 8}" text-anchor="end">${Math.round(max)}</text>`);
    rows.forEach((r, i) => {
      const bw = groupW / 3;
      const gx = x0 + i * groupW + bw / 2;
      (['raftkv', 'etcd'] as const).forEach((s, j) => {
        const v = Number.isFinite(r[s].ops) ? r[s].ops : 0;
        const h = (v / max) * panelH;
        parts.push(
          `<rect x="${gx + j * bw}" y="${y0 + panelH - h}" width="${bw - 2}" height="${h}" fill="${colors[s]}"><title>${s} ${kind} ${r.clients} clients: ${Math.round(v)} ops/s</title></rect>`,
        );
      });
      parts.push(`<text x="${gx + bw}" y="${y0 + panelH + 14}" text-anchor="middle">${r.clients}</text>`);
    });
    parts.push(
      `<text x="${x0 + (panelW - 40) / 2}" y="${y0 + panelH + 30}" text-anchor="middle">clients</text>`,
    );
  });
  const ly = height - 12;
  parts.push(
    `<rect x="${margin.left}" y="${ly - 9}" width="10" height="10" fill="${colors.raftkv}"/><text x="${margin.left + 14}" y="${ly}">raftkv</text>`,
  );
  parts.push(
    `<rect x="${margin.left + 70}" y="${ly - 9}" width="10" height="10" fill="${colors.etcd}"/><text x="${margin.left + 84}" y="${ly}">etcd</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
