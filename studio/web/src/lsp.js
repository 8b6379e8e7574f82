// The editor's side of the language server: a websocket transport, and diagnostics that
// carry the server's quick fixes as buttons and feed the page's problems list.
import {setDiagnostics} from "@codemirror/lint"
import {ViewPlugin} from "@codemirror/view"
import {LSPPlugin} from "@codemirror/lsp-client"

// A transport over one websocket; `onClose` hears when the server goes away.
export function socketTransport(url, onClose) {
  let handlers = []
  const socket = new WebSocket(url)
  socket.onmessage = (event) => { for (const h of handlers) h(String(event.data)) }
  socket.onclose = () => onClose()
  return new Promise((resolve, reject) => {
    socket.onerror = () => reject(new Error("websocket"))
    socket.onopen = () => resolve({
      send(message) { socket.send(message) },
      subscribe(handler) { handlers.push(handler) },
      unsubscribe(handler) { handlers = handlers.filter((h) => h !== handler) },
    })
  })
}

// Send the text to the server soon after each change (the server debounces too).
const SYNC_DELAY_MS = 120
const autoSync = ViewPlugin.fromClass(class {
  constructor() { this.pending = -1 }
  update(update) {
    if (!update.docChanged) return
    clearTimeout(this.pending)
    this.pending = setTimeout(() => {
      const plugin = LSPPlugin.get(update.view)
      if (plugin) plugin.client.sync()
    }, SYNC_DELAY_MS)
  }
  destroy() { clearTimeout(this.pending) }
})

const SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "hint"}

// Apply an LSP workspace edit's changes to this editor's document.
function applyEdit(view, plugin, edit) {
  const changes = (edit.changes && edit.changes[plugin.uri]) || []
  const mapped = changes.map((c) => ({
    from: plugin.unsyncedChanges.mapPos(plugin.fromPosition(c.range.start, plugin.syncedDoc)),
    to: plugin.unsyncedChanges.mapPos(plugin.fromPosition(c.range.end, plugin.syncedDoc)),
    insert: c.newText,
  }))
  if (mapped.length) view.dispatch({changes: mapped, userEvent: "quickfix"})
}

async function fixesFor(client, uri, item) {
  try {
    const found = await client.request("textDocument/codeAction", {
      textDocument: {uri}, range: item.range, context: {diagnostics: [item]},
    })
    return (found || []).filter((a) => a.edit)
  } catch (_) {
    return []
  }
}

// Diagnostics from the server: underlines with the fixes as actions, then `onPublish`
// with what the page lists ({from, line, column, severity, message, code}).
export function diagnosticsWithFixes(onPublish) {
  return {
    clientCapabilities: {textDocument: {publishDiagnostics: {versionSupport: true}}},
    notificationHandlers: {
      "textDocument/publishDiagnostics": (client, params) => {
        const file = client.workspace.getFile(params.uri)
        if (!file || (params.version != null && params.version !== file.version)) return false
        const view = file.getView()
        const plugin = view && LSPPlugin.get(view)
        if (!view || !plugin) return false
        show(client, view, plugin, params, onPublish)
        return true
      },
    },
    editorExtension: autoSync,
  }
}

async function show(client, view, plugin, params, onPublish) {
  const version = plugin.syncedDoc
  const items = params.diagnostics.slice(0, 200)
  const fixes = await Promise.all(items.map((item) => fixesFor(client, params.uri, item)))
  if (plugin.syncedDoc !== version) return // a newer text is on its way
  const diagnostics = items.map((item, i) => ({
    from: plugin.unsyncedChanges.mapPos(plugin.fromPosition(item.range.start, plugin.syncedDoc)),
    to: plugin.unsyncedChanges.mapPos(plugin.fromPosition(item.range.end, plugin.syncedDoc)),
    severity: SEVERITY[item.severity || 1],
    message: item.message,
    source: item.code ? String(item.code) : undefined,
    actions: fixes[i].map((fix) => ({
      name: fix.title,
      apply: (v) => applyEdit(v, plugin, fix.edit),
    })),
  }))
  view.dispatch(setDiagnostics(view.state, diagnostics))
  onPublish(items.map((item, i) => ({
    from: diagnostics[i].from,
    line: item.range.start.line + 1,
    column: item.range.start.character + 1,
    severity: diagnostics[i].severity,
    message: item.message.split("\n")[0],
    code: item.code || "",
  })))
}
