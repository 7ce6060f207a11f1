// The mesh file in CodeMirror 6: YAML highlighting, completion from the JSON Schema, and problems from the
// control plane's own validator (the same parseMesh as `devmesh validate`) shown as you type.
import { autocompletion, closeBrackets } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, defaultHighlightStyle, foldGutter, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { EditorState } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { tags } from '@lezer/highlight';
import { useEffect, useRef } from 'react';
import type { ConfigProblemDto } from '../../src/contract/api';
import { schemaCompletion, type JsonSchema } from '../schema-completion';

/**
 * YAML's tokens as classes, coloured by styles.css (--syntax-*) so they read in the dark theme and the light
 * one alike: CodeMirror's default style is made for a light background (dark blue keys on the dark panel).
 */
const meshFileHighlight = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], class: 'tok-key' },
  { tag: [tags.string, tags.special(tags.string), tags.content], class: 'tok-string' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom, tags.keyword], class: 'tok-literal' },
  { tag: [tags.comment, tags.lineComment], class: 'tok-comment' },
  { tag: [tags.meta, tags.typeName, tags.labelName, tags.punctuation, tags.separator, tags.squareBracket, tags.brace], class: 'tok-punctuation' },
]);

interface Props {
  value: string;
  onChange(text: string): void;
  /** Validates the text; the editor shows the problems at their line and column. */
  validate(text: string): Promise<ConfigProblemDto[]>;
  schema: JsonSchema | null;
}

export function YamlEditor({ value, onChange, validate, schema }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const latest = useRef({ onChange, validate, schema });
  latest.current = { onChange, validate, schema };

  useEffect(() => {
    const lint = linter(
      async (v): Promise<Diagnostic[]> => {
        const doc = v.state.doc;
        const problems = await latest.current.validate(doc.toString()).catch(() => []);
        return problems.map((p) => {
          const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
          const from = Math.min(line.from + Math.max(p.column - 1, 0), line.to);
          return { from, to: Math.max(from + 1, line.to), severity: 'error', message: p.message };
        });
      },
      { delay: 300 },
    );
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          foldGutter(),
          lintGutter(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          closeBrackets(),
          highlightActiveLine(),
          highlightSelectionMatches(),
          syntaxHighlighting(meshFileHighlight),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          yaml(),
          autocompletion({ override: [schemaCompletion(() => latest.current.schema)] }),
          lint,
          keymap.of([...defaultKeymap, ...historyKeymap, ...searchKeymap, indentWithTab]),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) latest.current.onChange(u.state.doc.toString());
          }),
          EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { fontFamily: 'var(--mono)', fontSize: '12px' } }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
    // Created once; outside changes of `value` are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  return <div className="yaml-editor" ref={host} data-testid="yaml-editor" />;
}
