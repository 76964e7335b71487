/** Tiny XML writer for EC2 replies: elements are strings, text is always escaped. */

/** The namespace of every EC2 reply of API version 2016-11-15. */
export const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/";

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => escapes[c] ?? c);
}

/** `<name>` + escaped text + `</name>`, or "" when the value is undefined (EC2 omits absent fields). */
export function text(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? "" : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name>` + already-written children + `</name>`. */
export function el(name: string, ...children: string[]): string {
  return `<${name}>${children.join("")}</${name}>`;
}

/** An EC2 list: `<name><item>...</item>...</name>`. */
export function items<T>(name: string, values: readonly T[], render: (v: T) => string): string {
  return el(name, ...values.map((v) => el("item", render(v))));
}

/** A whole success reply, `<ActionResponse xmlns=...><requestId>` + body. */
export function replyDocument(action: string, requestId: string, ...body: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${ec2Namespace}">${text("requestId", requestId)}${body.join("")}</${action}Response>`;
}

/** A whole error reply in EC2's shape (the SDK reads `<Errors><Error><Code>`). */
export function errorDocument(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${el("Errors", el("Error", text("Code", code), text("Message", message)))}${text("RequestID", requestId)}</Response>`;
}
