import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesInitialized,
  useNodesState,
  useReactFlow,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { itemsOf } from "./api.js";
import { ElementNode, LookupContext, elementName } from "./ElementNode.jsx";
import { ARROW, EMAIL_TYPES, KIND_ORDER, arrange, branchOf, connect, emailElements, newElementId, problemsByElement, separate, statsByElement, toFlow, toPayload } from "./graph.js";
import { t } from "./i18n.js";
import { initialConfig } from "./schemaForm.js";
import { SettingsDialog } from "./SettingsDialog.jsx";

const NODE_TYPES = { element: ElementNode };
const GROUP_TITLES = { trigger: "Events", action: "Actions", wait: "Waits", condition: "Conditions" };
const STATS_POLL_MS = 10000;
const DRAG_MIME = "application/x-terminflow-element";
const branchLabel = (branch) => t(branch);

// Server messages name elements by id ("edge email-2 → wait-3"); people know them by name.
export function humanize(message, nodes, lookups) {
  let text = String(message || "");
  const ids = nodes.map((n) => n.id).sort((a, b) => b.length - a.length);
  for (const id of ids) {
    const name = elementName(nodes.find((n) => n.id === id), lookups);
    text = text.split(`'${id}'`).join(name).split(id).join(name);
  }
  return text;
}

function Palette({ types, readOnly, onAdd }) {
  const groups = KIND_ORDER.map((kind) => [kind, types.filter((type) => type.kind === kind)]);
  return (
    <aside className="tf-palette" aria-label={t("Elements")}>
      <p className="tf-help">{t("Drag an element onto the canvas, or click it to add it.")}</p>
      {groups.map(([kind, list]) => list.length > 0 && (
        <section key={kind}>
          <h3 className={`tf-group tf-kind-${kind}`}>{t(GROUP_TITLES[kind])}</h3>
          {list.map((type) => (
            <button
              key={type.key}
              type="button"
              className={`tf-palette-item tf-kind-${kind}`}
              draggable={!readOnly}
              disabled={readOnly}
              data-type={type.key}
              title={type.description}
              onDragStart={(event) => {
                event.dataTransfer.setData(DRAG_MIME, type.key);
                event.dataTransfer.setData("text/plain", type.key);
                event.dataTransfer.effectAllowed = "move";
              }}
              onClick={() => onAdd(type.key, null)}
            >
              {t(type.label)}
            </button>
          ))}
        </section>
      ))}
    </aside>
  );
}

function Canvas({ api, campaignId, readOnly, contactsUrl }) {
  const [nodes, setNodes, onNodesChange] = useNodesState([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState([]);
  const [types, setTypes] = useState([]);
  const [campaign, setCampaign] = useState(null);
  const [name, setName] = useState("");
  const [loadError, setLoadError] = useState("");
  const [dirty, setDirty] = useState(false);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState(null); // {kind, title, lines}
  const [editing, setEditing] = useState(null);
  const [refs, setRefs] = useState({ emailList: [], fieldList: [], campaignList: [], accountList: [], formList: [], segmentList: [] });
  const [calendars, setCalendars] = useState({});
  // Fit the view to a loaded graph once; an empty canvas keeps 1:1 so drops land where aimed.
  const [fitOnLoad, setFitOnLoad] = useState(false);
  const wrapper = useRef(null);
  const flow = useReactFlow();
  const measured = useNodesInitialized();

  const typesByKey = useMemo(() => Object.fromEntries(types.map((type) => [type.key, type])), [types]);

  const rememberCalendars = useCallback((list) => {
    setCalendars((old) => ({ ...old, ...Object.fromEntries(list.map((c) => [String(c.id), c.name])) }));
  }, []);

  const baseLookups = useMemo(() => ({
    ...refs,
    types: typesByKey,
    emails: Object.fromEntries(refs.emailList.map((e) => [String(e.id), e.name])),
    fields: Object.fromEntries(refs.fieldList.map((f) => [f.key, f.label])),
    campaigns: Object.fromEntries(refs.campaignList.map((c) => [String(c.id), c.name])),
    forms: Object.fromEntries(refs.formList.map((f) => [String(f.id), f.name])),
    segments: Object.fromEntries(refs.segmentList.map((s) => [String(s.id), s.name])),
    calendars,
    rememberCalendars,
    openSettings: setEditing,
  }), [refs, typesByKey, calendars, rememberCalendars]);

  // The graph's email elements, which conditions on opens and clicks choose from. Recomputed
  // only when an email element comes, goes or changes its email, not on every drag.
  const emailKey = nodes.filter((n) => EMAIL_TYPES.includes(n.data.type))
    .map((n) => `${n.id}:${n.data.type}:${(n.data.config || {}).email_id ?? ""}`).join("|");
  const emailNodes = useMemo(() => nodes.filter((n) => EMAIL_TYPES.includes(n.data.type)), [emailKey]);
  const lookups = useMemo(() => ({
    ...baseLookups,
    emailElements: emailElements(emailNodes, (node) => elementName(node, baseLookups)),
  }), [baseLookups, emailNodes]);

  const applyStats = useCallback((body) => {
    const byElement = statsByElement(body);
    setNodes((list) => list.map((node) => ({ ...node, data: { ...node.data, stats: byElement[node.id] || null } })));
  }, [setNodes]);

  const loadStats = useCallback(() => {
    api.get(`/campaigns/${campaignId}/stats`).then(applyStats, () => {});
  }, [api, campaignId, applyStats]);

  useEffect(() => {
    let cancelled = false;
    const optional = (path) => api.get(path).then(itemsOf, () => []);
    Promise.all([
      api.get("/elements"),
      api.get(`/campaigns/${campaignId}`),
      optional("/emails"),
      optional("/fields"),
      optional("/campaigns"),
      optional("/etermin/accounts"),
      optional("/forms"),
      optional("/segments"),
    ]).then(([elementTypes, loaded, emailList, fieldList, campaignList, accountList, formList, segmentList]) => {
      if (cancelled) return;
      const list = itemsOf(elementTypes);
      const byKey = Object.fromEntries(list.map((type) => [type.key, type]));
      setTypes(list);
      setRefs({ emailList, fieldList, campaignList, accountList, formList, segmentList });
      setCampaign(loaded);
      setName(loaded.name || "");
      const graph = toFlow(loaded, byKey, branchLabel);
      setFitOnLoad(graph.nodes.length > 0);
      setNodes(graph.nodes);
      setEdges(graph.edges);
      api.get(`/campaigns/${campaignId}/stats`).then(applyStats, () => {});
      // Calendar names for the node summaries; a failing eTermin only leaves ids showing.
      for (const account of accountList) {
        api.get(`/etermin/accounts/${account.id}/calendars`).then((body) => rememberCalendars(itemsOf(body)), () => {});
      }
    }, (error) => !cancelled && setLoadError(`${t("Could not load the campaign.")} ${error.message}`));
    return () => { cancelled = true; };
  }, [api, campaignId]);

  useEffect(() => {
    if (!campaign || campaign.status !== "active") return undefined;
    const timer = setInterval(loadStats, STATS_POLL_MS);
    return () => clearInterval(timer);
  }, [campaign, loadStats]);

  useEffect(() => {
    const warn = (event) => {
      if (dirty) {
        event.preventDefault();
        event.returnValue = t("Leave without saving?");
      }
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  const markDirty = useCallback(() => setDirty(true), []);

  const onNodesChangeTracked = useCallback((changes) => {
    onNodesChange(changes);
    if (changes.some((c) => c.type === "position" && c.dragging === false) || changes.some((c) => c.type === "remove")) markDirty();
  }, [onNodesChange, markDirty]);

  const onEdgesChangeTracked = useCallback((changes) => {
    onEdgesChange(changes);
    if (changes.some((c) => c.type === "remove")) markDirty();
  }, [onEdgesChange, markDirty]);

  const onConnect = useCallback((connection) => {
    if (connection.source === connection.target) return;
    const branch = branchOf(connection.sourceHandle);
    setEdges((list) => connect(list, connection.source, connection.target, branch, branchLabel));
    markDirty();
  }, [setEdges, markDirty]);

  // Elements grow when counts, failures or problems appear; push them apart once React Flow
  // has measured the new sizes, so none hides another.
  const sizes = nodes.map((n) => `${n.id}:${n.measured ? n.measured.height : 0}`).join(",");
  useEffect(() => {
    if (!measured) return;
    setNodes((list) => separate(list));
  }, [measured, sizes, setNodes]);

  const arrangeAll = useCallback(() => {
    setNodes((list) => arrange(list, edges));
    markDirty();
    window.requestAnimationFrame(() => flow.fitView({ maxZoom: 1, padding: 0.2, duration: 200 }));
  }, [setNodes, edges, markDirty, flow]);

  const addElement = useCallback((typeKey, position) => {
    const type = typesByKey[typeKey];
    if (!type || readOnly) return;
    let at = position;
    if (!at) {
      const box = wrapper.current ? wrapper.current.getBoundingClientRect() : { left: 0, top: 0, width: 600, height: 400 };
      at = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 3 });
      at = { x: at.x - 110 + (Math.random() * 40 - 20), y: at.y + (Math.random() * 40 - 20) };
    }
    setNodes((list) => {
      const id = newElementId(typeKey, new Set(list.map((n) => n.id)));
      const config = initialConfig(type.config_schema || type.schema || {});
      return [...list, { id, type: "element", position: at, data: { type: typeKey, kind: type.kind, config, errors: [], warnings: [], stats: null } }];
    });
    markDirty();
  }, [typesByKey, readOnly, flow, setNodes, markDirty]);

  const onDragOver = useCallback((event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
  }, []);

  const onDrop = useCallback((event) => {
    event.preventDefault();
    const typeKey = event.dataTransfer.getData(DRAG_MIME) || event.dataTransfer.getData("text/plain");
    if (!typeKey) return;
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    addElement(typeKey, { x: at.x - 110, y: at.y - 30 });
  }, [flow, addElement]);

  const setProblems = useCallback((errors, warnings) => {
    const e = problemsByElement(errors);
    const w = problemsByElement(warnings);
    const human = (list) => (list || []).map((m) => humanize(m, nodes, lookups));
    setNodes((list) => list.map((node) => ({
      ...node,
      data: { ...node.data, errors: human(e.byElement[node.id]), warnings: human(w.byElement[node.id]) },
    })));
    return { general: human(e.general), generalWarnings: human(w.general) };
  }, [setNodes, nodes, lookups]);

  // "E-Mail senden «Erinnerung»: …" instead of "email-2: …".
  const problemLine = useCallback((problem) => {
    if (!problem || typeof problem !== "object") return humanize(String(problem), nodes, lookups);
    const text = humanize(problem.message || problem.detail || "", nodes, lookups);
    const node = problem.element ? nodes.find((n) => n.id === String(problem.element)) : null;
    return node ? `${elementName(node, lookups)}: ${text}` : text;
  }, [nodes, lookups]);

  const save = useCallback(async () => {
    setBusy(true);
    setNotice(null);
    try {
      const saved = await api.put(`/campaigns/${campaignId}`, toPayload(name, nodes, edges, campaign && campaign.status));
      const warnings = (saved && saved.warnings) || [];
      const { generalWarnings } = setProblems([], warnings);
      setCampaign((old) => ({ ...old, ...saved }));
      setDirty(false);
      if (warnings.length) {
        setNotice({ kind: "warning", title: t("Saved with warnings:"), lines: warnings.map(problemLine), testid: "save-warnings" });
      } else {
        setNotice({ kind: "success", title: t("Saved."), lines: [] });
      }
      return true;
    } catch (error) {
      const errors = (error.body && error.body.errors) || [];
      const structured = errors.filter((e) => e && typeof e === "object" && "message" in e);
      const { general } = setProblems(structured, []);
      const lines = structured.length
        ? structured.map(problemLine)
        : [humanize(error.message, nodes, lookups)];
      setNotice({ kind: "error", title: t("The campaign could not be saved:"), lines: lines.length ? lines : general });
      return false;
    } finally {
      setBusy(false);
    }
  }, [api, campaignId, name, nodes, edges, campaign, setProblems, problemLine, lookups]);

  const changeStatus = useCallback(async (action) => {
    if (dirty) {
      const ok = await save();
      if (!ok) return;
    }
    setBusy(true);
    try {
      const result = await api.post(`/campaigns/${campaignId}/${action}`);
      setCampaign((old) => ({ ...old, ...(result || {}), status: (result && result.status) || (action === "activate" ? "active" : "paused") }));
      const warnings = (result && result.warnings) || [];
      setProblems([], warnings);
      setNotice(warnings.length ? { kind: "warning", title: t("Active, with warnings:"), lines: warnings.map(problemLine), testid: "save-warnings" } : null);
      loadStats();
    } catch (error) {
      const errors = (error.body && error.body.errors) || [];
      const structured = errors.filter((e) => e && typeof e === "object" && "message" in e);
      setProblems(structured, []);
      setNotice({ kind: "error", title: t("Request failed"), lines: structured.length ? structured.map(problemLine) : [error.message] });
    } finally {
      setBusy(false);
    }
  }, [api, campaignId, dirty, save, loadStats, setProblems, problemLine]);

  const resetAll = useCallback(async () => {
    if (!window.confirm(t("Reset all contacts of this campaign? Each may run through it once more."))) return;
    setBusy(true);
    try {
      const result = await api.post(`/campaigns/${campaignId}/reset`);
      setNotice({ kind: "success", title: t("Contacts reset:") + " " + ((result && result.reset) ?? 0), lines: [] });
      loadStats();
    } catch (error) {
      setNotice({ kind: "error", title: t("Request failed"), lines: [error.message] });
    } finally {
      setBusy(false);
    }
  }, [api, campaignId, loadStats]);

  const applyConfig = useCallback((nodeId, config) => {
    setNodes((list) => list.map((node) => (node.id === nodeId ? { ...node, data: { ...node.data, config, errors: [], warnings: [] } } : node)));
    setEditing(null);
    markDirty();
  }, [setNodes, markDirty]);

  const deleteNode = useCallback((nodeId) => {
    setNodes((list) => list.filter((node) => node.id !== nodeId));
    setEdges((list) => list.filter((edge) => edge.source !== nodeId && edge.target !== nodeId));
    setEditing(null);
    markDirty();
  }, [setNodes, setEdges, markDirty]);

  if (loadError) return <div className="tf-alert tf-alert-error">{loadError}</div>;
  if (!campaign) return <div className="tf-loading">{t("Loading…")}</div>;

  const status = campaign.status || "draft";
  const editingNode = editing ? nodes.find((n) => n.id === editing) : null;

  return (
    <LookupContext.Provider value={lookups}>
      <div className="tf-builder">
        <div className="tf-toolbar" data-testid="toolbar">
          <div className="tf-title">
            <input className="tf-name" aria-label={t("Campaign name")} value={name} disabled={readOnly} title={name}
              onChange={(e) => { setName(e.target.value); markDirty(); }} />
            <span className={`tf-status tf-status-${status}`} data-testid="campaign-status">{t({ draft: "Draft", active: "Active", paused: "Paused" }[status] || status)}</span>
            {dirty && <span className="tf-dirty">{t("Unsaved changes")}</span>}
          </div>
          <div className="tf-actions">
          {!readOnly && <button type="button" className="tf-button" onClick={arrangeAll} title={t("Place the elements in rows, without overlaps")} data-testid="arrange">{t("Arrange")}</button>}
          {contactsUrl && <a className="tf-button" href={contactsUrl}>{t("Contacts and history")}</a>}
          {!readOnly && (
            <button type="button" className="tf-button" disabled={busy} onClick={resetAll}>{t("Reset all contacts")}</button>
          )}
          {!readOnly && (
            <>
              <button type="button" className="tf-button tf-primary" disabled={busy} onClick={save} data-testid="save">{busy ? t("Saving…") : t("Save")}</button>
              {status === "active"
                ? <button type="button" className="tf-button" disabled={busy} onClick={() => changeStatus("pause")}>{t("Pause")}</button>
                : <button type="button" className="tf-button tf-green" disabled={busy} onClick={() => changeStatus("activate")}>{t("Activate")}</button>}
            </>
          )}
          </div>
        </div>
        {readOnly && <div className="tf-alert tf-alert-info tf-banner">{t("You can look at this campaign but not change it.")}</div>}
        {notice && (
          <div className={`tf-alert tf-alert-${notice.kind} tf-banner`} role={notice.kind === "error" ? "alert" : "status"} data-testid="notice" data-kind={notice.kind}>
            <strong>{notice.title}</strong>
            {notice.lines.length > 0 && <ul>{notice.lines.map((line, i) => <li key={i}>{line}</li>)}</ul>}
          </div>
        )}
        <div className="tf-workspace">
          <Palette types={types} readOnly={readOnly} onAdd={addElement} />
          <div className="tf-canvas" ref={wrapper} onDragOver={onDragOver} onDrop={onDrop} data-testid="canvas">
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={NODE_TYPES}
              onNodesChange={readOnly ? undefined : onNodesChangeTracked}
              onEdgesChange={readOnly ? undefined : onEdgesChangeTracked}
              onConnect={readOnly ? undefined : onConnect}
              onNodeDoubleClick={(_, node) => setEditing(node.id)}
              nodesDraggable={!readOnly}
              nodesConnectable={!readOnly}
              elementsSelectable
              deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
              zoomOnDoubleClick={false}
              fitView={fitOnLoad}
              fitViewOptions={{ maxZoom: 1, padding: 0.2 }}
              proOptions={{ hideAttribution: true }}
              defaultEdgeOptions={{ type: "smoothstep", markerEnd: ARROW }}
            >
              <Background gap={20} />
              <Controls showInteractive={false} />
              <MiniMap pannable zoomable nodeColor={(n) => ({ trigger: "#f97316", action: "#3b82f6", wait: "#8b5cf6", condition: "#0d9488" }[n.data.kind] || "#94a3b8")} />
            </ReactFlow>
            <p className="tf-hint">{t("Double-click an element (or tap ⚙) to open its settings. Connect elements by dragging from the dot at the bottom to the next element; one dot may lead to several.")}</p>
          </div>
        </div>
        {editingNode && (
          <SettingsDialog
            api={api}
            node={editingNode}
            type={typesByKey[editingNode.data.type]}
            lookups={lookups}
            readOnly={readOnly}
            onApply={(config) => applyConfig(editingNode.id, config)}
            onDelete={() => deleteNode(editingNode.id)}
            onClose={() => setEditing(null)}
          />
        )}
      </div>
    </LookupContext.Provider>
  );
}

export function Builder(props) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
