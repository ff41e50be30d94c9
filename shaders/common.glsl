// What the copy shader (copy.comp) and its fast path (turn.comp) share,
// pasted into each where it says #include "common.glsl" (build.rs). With
// PARTS defined (build.rs), a shader takes the rectangles it writes from
// its parameters.

#ifdef PARTS
// What a workgroup writes (src/copy/parts.rs). A dispatch writes one or
// more rectangles that share no pixel, each a part: the draws of a batch
// that share a source and everything else but their clip. Each of the
// dispatch's workgroups has its part's words, and its place in the part.
struct Part {
    // The shader's own: copy.comp's clip, origin and extent; turn.comp's
    // clip in blocks across and down in `extent`, and its first rows'
    // indices in `first`.
    ivec2 origin;
    ivec2 extent;
    uvec2 first;
};

// The words of a workgroup's entry: the part's six, its place (across in
// the low 16 bits, down in the high ones), one unused.
const uint ENTRY_WORDS = 8u;

// The dispatch's parameters: an entry for each workgroup of its grid,
// counted row by row. Each workgroup finds what it writes at an address
// of its own, not through its part's index: lavapipe ran the fast path
// about 1.5 times as long when a load's address came from another load,
// or from a search or a division.
layout(set = 0, binding = 5) readonly buffer Parameters { uint words[]; } dispatch;

// The part of this invocation's workgroup, of the dispatch's `groups`,
// and the workgroup's place in it: false for the workgroups of the grid's
// last row past the last part's.
bool find_part(uint groups, out Part part, out uvec2 place) {
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (group >= groups) {
        return false;
    }
    uint at = group * ENTRY_WORDS;
    part.origin = ivec2(int(dispatch.words[at]), int(dispatch.words[at + 1u]));
    part.extent = ivec2(int(dispatch.words[at + 2u]), int(dispatch.words[at + 3u]));
    part.first = uvec2(dispatch.words[at + 4u], dispatch.words[at + 5u]);
    uint xy = dispatch.words[at + 6u];
    place = uvec2(xy & 0xffffu, xy >> 16u);
    return true;
}
#endif

// Premultiplied "over" in integers, two 8-bit channels held in the low
// bytes of each 16-bit half of a word: s + (d × inverse + 127) / 255 for
// each, clamped to 255 (a half of 256 or more: source channels above
// their alpha). The division is exact without dividing: with t = d ×
// inverse + 128 (at most 65153, so the halves never carry into each
// other), (t + (t >> 8)) >> 8 is the rounded quotient for every d and
// inverse up to 255, and 255 being odd, no quotient lies halfway, so it
// equals the reference's (x + 127) / 255 (src/copy/reference.rs).
uvec4 over_pair(uvec4 s, uvec4 d, uvec4 inverse) {
    uvec4 low = uvec4(0x00ff00ffu);
    uvec4 t = d * inverse + uvec4(0x00800080u);
    t = ((t + ((t >> 8u) & low)) >> 8u) & low;
    uvec4 sum = s + t;
    uvec4 over = (sum >> 8u) & uvec4(0x00010001u);
    return (sum | (over * 255u)) & low;
}
