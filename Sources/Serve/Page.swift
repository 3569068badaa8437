// The page gasa serve shows at /: one self-contained HTML document (no build step, nothing fetched from
// elsewhere), Korean UI text. It lists the models as cards, takes a prime (nothing is sent while the
// input method is still composing a syllable), the sampling options with `gasa sample`'s defaults and
// ranges, and streams one or two models' text side by side from POST /api/generate; "멈춤" aborts the
// request, which stops the generation on the server.
enum Page {
    static let html = #"""
<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>가사 — 노랫말 쓰기</title>
<style>
  :root { --ink: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7; --accent: #0a5bd3; --bad: #b3261e; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.6 system-ui, "Noto Sans CJK KR", "Apple SD Gothic Neo", sans-serif; color: var(--ink); background: #fafafa; }
  header { padding: 18px 28px 8px; }
  h1 { margin: 0; font-size: 22px; }
  header p { margin: 2px 0 0; color: var(--muted); }
  main { padding: 8px 28px 28px; display: grid; gap: 18px; }
  .cards { display: flex; flex-wrap: wrap; gap: 12px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; width: 300px; }
  .card h3 { margin: 0 0 4px; font-size: 15px; }
  .card dl { display: grid; grid-template-columns: auto 1fr; gap: 0 10px; margin: 0; font-size: 13px; }
  .card dt { color: var(--muted); }
  .card img { width: 100%; margin-top: 6px; border-top: 1px solid var(--line); }
  form { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px; display: grid; gap: 10px; }
  textarea { width: 100%; min-height: 64px; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 8px; }
  .row { display: flex; flex-wrap: wrap; gap: 14px; align-items: end; }
  label { display: grid; font-size: 13px; color: var(--muted); gap: 2px; }
  input, select { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px; width: 8em; }
  select { width: 14em; }
  button { font: inherit; padding: 6px 18px; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: var(--accent); }
  button:disabled { opacity: .45; cursor: default; }
  .outputs { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 14px; }
  .pane { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; min-height: 180px; }
  .pane h3 { margin: 0 0 6px; font-size: 14px; color: var(--muted); font-weight: 600; }
  .text { white-space: pre-wrap; font-size: 17px; line-height: 1.75; }
  .text .prime { color: var(--muted); }
  .status { font-size: 12px; color: var(--muted); margin-top: 8px; }
  .error { color: var(--bad); background: #fdecea; border-radius: 8px; padding: 8px 10px; }
  .error button { margin: 6px 6px 0 0; padding: 2px 10px; font-size: 13px; }
  .hidden { display: none; }
</style>
</head>
<body>
<header>
  <h1>가사 <span style="font-weight:400;color:var(--muted)">— 학습한 모델로 노랫말 쓰기</span></h1>
  <p>첫 줄을 쓰고 <b>쓰기</b>를 누르면 모델이 음절 단위로 이어 씁니다. 모델을 둘 고르면 나란히 비교합니다.</p>
</header>
<main>
  <section class="cards" id="cards" aria-label="모델"></section>
  <form id="form" autocomplete="off">
    <label>첫 줄 (프라임)
      <textarea id="prime" placeholder="예: 사랑은 늘 도망가"></textarea>
    </label>
    <div class="row">
      <label>모델 ㄱ <select id="modelA"></select></label>
      <label>모델 ㄴ (비교) <select id="modelB"><option value="">없음</option></select></label>
      <label>온도 <input id="temperature" type="number" min="0" step="0.05" value="1.0"></label>
      <label>top-k (0 = 전부) <input id="top_k" type="number" min="0" step="1" value="0"></label>
      <label>top-p (1 = 전부) <input id="top_p" type="number" min="0.01" max="1" step="0.01" value="1.0"></label>
      <label>길이 (글자) <input id="length" type="number" min="1" max="2000" step="1" value="200"></label>
      <label>시드 (빈칸 = 무작위) <input id="seed" type="number" min="0" max="9007199254740991" step="1" placeholder="무작위"></label>
      <label>어휘에 없는 글자 <select id="unknown" style="width:9em"><option value="error">알려 줌</option>
        <option value="skip">빼기 (skip)</option><option value="unk">&lt;unk&gt; (unk)</option></select></label>
      <label>멈출 글 (예: \n\n = 한 절) <input id="stop_at" type="text" style="width:7em"></label>
    </div>
    <div class="row">
      <button type="submit" id="write">쓰기</button>
      <button type="button" id="stop" class="secondary" disabled>멈춤</button>
      <span id="composing" class="status hidden">글자를 조합하는 중…</span>
    </div>
    <div id="error" class="error hidden" role="alert"></div>
  </form>
  <section class="outputs" id="outputs"></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let models = [], running = [], composing = false, pendingSubmit = false, maxLength = 2000;

function card(m) {
  const bits = m.best_val_bits_per_char == null ? "—" : m.best_val_bits_per_char.toFixed(4);
  const cellName = { lstm: "LSTM", gru: "GRU", rnn: "RNN (tanh)", "rnn-relu": "RNN (ReLU)" }[m.cell] || esc(m.cell);
  const unit = { char: "음절 (char)", jamo: "자소 (jamo)", coda: "받침 분리 (coda)", grapheme: "문자소", word: "단어" }[m.granularity] || esc(m.granularity);
  return `<article class="card"><h3>${esc(m.name)}</h3><dl>
    <dt>단위</dt><dd>${unit}</dd><dt>어휘</dt><dd>${m.vocab_size}</dd>
    <dt>셀 · 층 × 크기</dt><dd>${cellName} · ${m.layers} × ${m.hidden_size}</dd><dt>최고 val</dt><dd>${bits} bits/글자</dd>
    <dt>반복</dt><dd>${m.iteration}</dd></dl>
    ${m.loss_curve ? `<img alt="${esc(m.name)} 손실 곡선" src="${esc(m.loss_curve)}">` : ""}</article>`;
}
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }

async function loadModels() {
  const limits = await (await fetch("/api/limits")).json();
  maxLength = limits.max_length;
  $("length").max = String(maxLength);
  const r = await fetch("/api/models");
  models = await r.json();
  $("cards").innerHTML = models.map(card).join("");
  for (const m of models) {
    $("modelA").add(new Option(`${m.name} (${m.granularity})`, m.id));
    $("modelB").add(new Option(`${m.name} (${m.granularity})`, m.id));
  }
}

// Korean input methods compose a syllable over several key presses: nothing is sent until it is done.
// Pressing 쓰기 (or Ctrl+Enter) meanwhile is remembered and carried out when the syllable is committed.
$("prime").addEventListener("compositionstart", () => { composing = true; $("composing").classList.remove("hidden"); });
$("prime").addEventListener("compositionend", () => {
  composing = false; $("composing").classList.add("hidden");
  if (pendingSubmit) { pendingSubmit = false; setTimeout(() => start(), 0); }   // after the commit's input event
});
$("prime").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); if (e.isComposing || composing) pendingSubmit = true; else start(); }
});
$("form").addEventListener("submit", (e) => { e.preventDefault(); if (composing) pendingSubmit = true; else start(); });
$("stop").addEventListener("click", stopAll);

function options(unknown) {
  const o = { prime: $("prime").value, unknown: unknown || $("unknown").value };
  for (const f of ["temperature", "top_k", "top_p", "length", "seed"]) {   // an empty field takes the server's default
    if ($(f).value.trim() !== "") o[f] = Number($(f).value);
  }
  if ($("stop_at").value !== "") o.stop_at = $("stop_at").value.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
  return o;
}

function showError(message, unknownChars, modelName) {
  const box = $("error");
  box.innerHTML = esc(message);
  if (unknownChars && unknownChars.length) {
    box.innerHTML = `${esc(modelName)}의 어휘에 없는 글자: <b>${unknownChars.map(esc).join(" ")}</b><br>
      <button type="button" data-unknown="skip">빼고 쓰기 (skip)</button>
      <button type="button" data-unknown="unk">&lt;unk&gt;로 넣기 (unk)</button>`;
    box.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => restart(b.dataset.unknown)));
    stopAll();   // the same prime for every pane: the others start again with the choice too
  }
  box.classList.remove("hidden");
}

function stopAll() { for (const r of running) r.abort(); }

async function restart(unknown) {
  stopAll();
  while (running.length) await new Promise((r) => setTimeout(r, 20));
  $("unknown").value = unknown;
  start(unknown);
}

function start(unknown) {
  if (running.length) return;
  $("error").classList.add("hidden");
  const chosen = [$("modelA").value, $("modelB").value].filter((v) => v !== "").map(Number);
  const ids = [...new Set(chosen)];
  const o = options(unknown);
  if (o.seed === undefined) o.seed = Math.floor(Math.random() * 999999) + 1;   // one seed for both panes
  $("outputs").innerHTML = ids.map((id) => `<div class="pane" data-model="${id}"><h3>${esc(models[id].name)} (${esc(models[id].granularity)})</h3>
    <div class="text"><span class="prime"></span><span class="gen"></span></div><div class="status">쓰는 중…</div></div>`).join("");
  $("write").disabled = true; $("stop").disabled = false;
  for (const id of ids) run(id, o, document.querySelector(`.pane[data-model="${id}"]`));
}

async function run(id, o, pane) {
  const controller = new AbortController();
  running.push(controller);
  const status = pane.querySelector(".status");
  try {
    const r = await fetch("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify({ ...o, model: id }), signal: controller.signal });
    if (!r.ok) {
      const e = await r.json().catch(() => ({ error: r.statusText }));
      showError(`${models[id].name}: ${e.error}`, e.unknown_characters, models[id].name);
      pane.remove();
      return;
    }
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        let event = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (!data) continue;
        const d = JSON.parse(data);
        if (event === "waiting") status.textContent = "차례를 기다리는 중…";
        else if (event === "prime") { pane.querySelector(".prime").textContent = d.text; status.textContent = "쓰는 중…"; }
        else if (event === "text") pane.querySelector(".gen").textContent += d.text;
        else if (event === "error") { status.textContent = "오류: " + d.error; pane.dataset.done = "error"; }
        else if (event === "done") {
          status.textContent = `${d.characters}글자, ${d.tokens}토큰, ${d.seconds.toFixed(2)}초 · 시드 ${d.seed}` + (d.stopped ? " · 멈춤" : "");
          pane.dataset.done = "1";
        }
      }
    }
  } catch (e) {
    status.textContent = controller.signal.aborted ? "멈춤" : "연결이 끊겼습니다: " + e;
    pane.dataset.done = controller.signal.aborted ? "stopped" : "error";
  } finally {
    running = running.filter((c) => c !== controller);
    if (!running.length) { $("write").disabled = false; $("stop").disabled = true; }
  }
}

loadModels().catch((e) => showError("모델 목록을 읽지 못했습니다: " + e));
</script>
</body>
</html>
"""#
}
