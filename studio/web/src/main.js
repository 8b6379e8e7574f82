// The studio page: one flow of the folder in CodeMirror 6 with the language server over a
// websocket; the problems list, the diagram, saving, and playing a case around it.
// Every word shown comes from the page's config (the server's catalog), none from here.
import {EditorView, basicSetup} from "codemirror"
import {EditorState} from "@codemirror/state"
import {keymap} from "@codemirror/view"
import {
  LSPClient, serverCompletion, hoverTooltips, formatKeymap, renameKeymap,
  jumpToDefinitionKeymap, findReferencesKeymap,
} from "@codemirror/lsp-client"
import {flowLanguage} from "./flowlang.js"
import {socketTransport, diagnosticsWithFixes} from "./lsp.js"
import {startPlay} from "./play.js"

const config = JSON.parse(document.getElementById("studio-config").textContent)
const T = config.text
const $ = (id) => document.getElementById(id)
const say = (template, args = {}) => template.replace(/\{(\w+)\}/g, (_, k) => String(args[k] ?? ""))

export async function api(method, path, body) {
  const headers = {"Accept": "application/json"}
  if (body !== undefined) headers["Content-Type"] = "application/json"
  if (config.csrf) headers["X-CSRF-Token"] = config.csrf
  const response = await fetch(config.base + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await response.json().catch(() => ({}))
  return {ok: response.ok, status: response.status, data}
}

function status(text, dirty = false) {
  $("status").textContent = text
  $("status").classList.toggle("dirty", dirty)
}

let view = null
let current = null // {name, uri}
let savedText = ""
let diagramTimer = -1
let play = null
const studio = {text: () => (view ? view.state.doc.toString() : ""), name: () => current?.name}

const client = new LSPClient({
  rootUri: config.folder_uri,
  timeout: 10000,
  extensions: [
    serverCompletion(),
    hoverTooltips(),
    keymap.of([...formatKeymap, ...renameKeymap, ...jumpToDefinitionKeymap, ...findReferencesKeymap]),
    diagnosticsWithFixes(showProblems),
  ],
})

function showProblems(problems) {
  const list = $("problems")
  list.replaceChildren()
  const errors = problems.filter((p) => p.severity === "error").length
  $("problem-count").textContent = problems.length ? say(T.problems, {n: problems.length}) : ""
  if (!problems.length) {
    const li = document.createElement("li")
    li.className = "clean"
    li.textContent = T.no_problems
    list.append(li)
  }
  for (const p of problems) {
    const li = document.createElement("li")
    li.className = p.severity
    li.dataset.line = String(p.line)
    const where = document.createElement("span")
    where.className = "where"
    where.textContent = `${p.line}:${p.column}`
    const code = document.createElement("span")
    code.className = "code"
    code.textContent = p.code
    li.append(where, p.message, code)
    li.addEventListener("click", () => {
      view.dispatch({selection: {anchor: p.from}, scrollIntoView: true})
      view.focus()
    })
    list.append(li)
  }
  clearTimeout(diagramTimer)
  diagramTimer = setTimeout(() => redraw(errors), 0)
}

// The diagram of the text in hand; the last good one greyed while the text has errors.
export async function redraw(errors = 0, state = null) {
  const {ok, data} = await api("POST", "/api/diagram", {name: current.name, text: studio.text(), current: state})
  const box = $("diagram")
  const stale = !ok || !data.svg
  if (!stale) {
    box.innerHTML = data.svg // rendered by the server's template, escaped there
    if (play) play.know(data.roles, data.openers)
  }
  box.classList.toggle("stale", stale || errors > 0)
  $("diagram-note").hidden = !stale
  $("diagram-note").textContent = T.stale_diagram
}

async function open(name) {
  const {ok, data} = await api("GET", `/api/files/${encodeURIComponent(name)}`)
  if (!ok) return status(say(T.request_failed, {detail: data.detail || ""}))
  if (view) view.destroy()
  current = {name, uri: data.uri}
  savedText = data.text
  view = new EditorView({
    parent: $("editor"),
    state: EditorState.create({
      doc: data.text,
      extensions: [
        basicSetup,
        flowLanguage,
        EditorState.phrases.of(T.phrases),
        EditorView.lineWrapping,
        client.plugin(data.uri, "flow"),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) status(studio.text() === savedText ? "" : T.unsaved, studio.text() !== savedText)
        }),
      ],
    }),
  })
  history.replaceState(null, "", `${config.base}?file=${encodeURIComponent(name)}`)
  if (play) play.reset()
  redraw()
}

async function save() {
  let answer = await api("PUT", `/api/files/${encodeURIComponent(current.name)}`, {text: studio.text()})
  if (answer.status === 409) {
    const errors = $("problems").querySelectorAll("li.error").length
    if (!window.confirm(say(T.save_anyway, {n: errors}))) return status(T.not_saved, true)
    answer = await api("PUT", `/api/files/${encodeURIComponent(current.name)}`, {text: studio.text(), confirm: true})
  }
  if (!answer.ok) return status(say(T.request_failed, {detail: answer.data.detail || ""}), true)
  savedText = answer.data.text
  if (answer.data.text !== studio.text()) {
    view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: answer.data.text}})
  }
  status(say(answer.data.formatted ? T.saved_formatted : T.saved, {name: current.name}))
}

async function boot() {
  status(T.connecting)
  const scheme = location.protocol === "https:" ? "wss:" : "ws:"
  const csrf = config.csrf ? `?csrf=${encodeURIComponent(config.csrf)}` : ""
  try {
    const transport = await socketTransport(`${scheme}//${location.host}${config.base}/lsp${csrf}`,
      () => status(T.disconnected, true))
    client.connect(transport)
    status(T.connected)
  } catch (_) {
    status(T.disconnected, true)
  }
  const select = $("file")
  for (const name of config.flows) select.append(new Option(name, name))
  const wanted = new URLSearchParams(location.search).get("file")
  if (wanted && config.flows.includes(wanted)) select.value = wanted
  select.addEventListener("change", () => open(select.value))
  $("save").addEventListener("click", save)
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save() }
  })
  play = startPlay({api, studio, text: T, say, redraw: (state) => redraw(0, state)})
  if (select.value) await open(select.value)
}

boot()
