// The composer: auto-resizing text area, Enter sends (Shift+Enter for a new line), the send
// button disabled while empty; typing:start at most once a second while typing, typing:stop when
// cleared or sent.

import { useEffect, useRef, useState } from "react";
import { useRealtime } from "../state/realtime";

const MAX_CHARS = 4000;

export function MessageInput({ conversationId, onSend }: { conversationId: string; onSend: (text: string) => void }) {
  const { client } = useRealtime();
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);
  const lastStart = useRef(0);
  const typing = useRef(false);

  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [text]);

  useEffect(
    () => () => {
      if (typing.current) client.send("typing:stop", { conversationId });
    },
    [client, conversationId],
  );

  function changed(value: string) {
    setText(value);
    const now = Date.now();
    if (value.trim() && now - lastStart.current >= 1000) {
      lastStart.current = now;
      typing.current = client.send("typing:start", { conversationId });
    }
    if (!value.trim() && typing.current) {
      typing.current = false;
      client.send("typing:stop", { conversationId });
    }
  }

  function submit() {
    const content = text.trim();
    if (!content) return;
    onSend(content);
    setText("");
    typing.current = false;
    lastStart.current = 0;
  }

  return (
    <form
      className="message-input"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <textarea
        ref={area}
        rows={1}
        aria-label="Message"
        placeholder="Write a message"
        maxLength={MAX_CHARS}
        value={text}
        onChange={(e) => changed(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <button type="submit" className="primary" disabled={!text.trim()} aria-label="Send">
        Send
      </button>
    </form>
  );
}
