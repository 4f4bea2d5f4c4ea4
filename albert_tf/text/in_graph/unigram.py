"""SentencePiece's unigram search redone in TensorFlow ops, so that ties come out as in Python.

tensorflow-text's op bundles an older SentencePiece whose search rounds and
breaks ties differently from Python's sentencepiece 0.2.x (e.g. "-11111" as
``1 11 11`` versus ``11 11 1``; a few lines in ten thousand of ordinary text,
many more in numbers and repeated characters). So the op only normalises, and
:class:`UnigramSegmenter` redoes the search with Python's exact float32
arithmetic.

One algorithm that reads better whole (the trie walk, the lane passes, their
fixed point and the binary-lifting read-back share one layout), hence over 400 lines.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from albert_tf.text.tokenizer import SPIECE_UNDERLINE


def installed_sentencepiece_is_emulated() -> bool:
    """Whether the installed Python sentencepiece runs the search reproduced here (0.2.2 or 0.2.3)."""
    import sentencepiece

    try:
        version = tuple(int(part) for part in sentencepiece.__version__.split(".")[:3])
    except ValueError:
        return False
    return (0, 2, 2) <= version < (0, 3, 0)


class UnigramSegmenter:
    """SentencePiece's unigram search (``EncodeOptimized`` of sentencepiece
    0.2.2/0.2.3) in TensorFlow ops, so that ties come out as in Python.

    The tensorflow-text op is used only to normalise (its pieces, joined, are
    the normalised text); the search is redone with Python's arithmetic:
    float32 sums, a strict ``>`` so that the earliest start wins a tie,
    user-defined symbols scored ``float(0.1 * (bytes - 1))``, unknown
    characters ``min_score - 10`` (only where no one-character piece
    matches), scores re-based once they pass +-1e5, and runs of unknown
    pieces merged into one.

    Layout: candidates come from a character trie walked from every position
    at once. Every "▁" starts a *lane* (no piece holds an inner "▁", so none
    crosses it) and all lanes of the batch advance together in a
    ``tf.while_loop`` that carries the scores of the next ``max_length`` end
    positions; the best path is read back with binary lifting. A lane's result
    depends on the score it starts from only through rounding, so lanes start
    from the sums along a first pass's paths and passes repeat until each lane
    starts exactly where the previous one ended (one extra pass in practice);
    rows whose scores pass 1e5 are searched whole, left to right.
    """

    _CP_BITS = 21  # code points fit in 21 bits: trie keys are node << 21 | cp

    def __init__(self, proto: bytes, op):
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        model = model_pb2.ModelProto()
        model.ParseFromString(proto)
        kinds = model_pb2.ModelProto.SentencePiece
        self.op = op
        self.unk_id = int(model.trainer_spec.unk_id)
        normal = [np.float32(p.score) for p in model.pieces if p.type == kinds.NORMAL]
        min_score = min(normal) if normal else np.float32(np.finfo(np.float32).max)
        self.unk_score = np.float32(min_score - np.float32(10.0))
        scores = np.zeros(len(model.pieces), dtype=np.float32)
        children = [{}]
        terminal = [-1]
        for piece_id, piece in enumerate(model.pieces):
            if piece.type not in (kinds.NORMAL, kinds.USER_DEFINED, kinds.UNUSED):
                continue  # control and unknown pieces are never matched in text
            if piece.type == kinds.USER_DEFINED:
                # C++: float GetUserDefinedScore(int length) { return 0.1 * (length - 1); }
                scores[piece_id] = np.float32(0.1 * (len(piece.piece.encode("utf-8")) - 1))
            else:
                scores[piece_id] = np.float32(piece.score)
            node = 0
            for char in piece.piece:
                nxt = children[node].get(ord(char))
                if nxt is None:
                    nxt = len(children)
                    children[node][ord(char)] = nxt
                    children.append({})
                    terminal.append(-1)
                node = nxt
            # Unused pieces stay in the trie (the walk goes through them) but never match.
            terminal[node] = -1 if piece.type == kinds.UNUSED else piece_id
        edges = sorted(
            ((parent << self._CP_BITS) | cp, child)
            for parent, table in enumerate(children)
            for cp, child in table.items()
        )
        self.edge_keys = np.array([k for k, _ in edges], dtype=np.int64)
        self.edge_children = np.array([c for _, c in edges], dtype=np.int32)
        self.terminal = np.array(terminal, dtype=np.int32)
        self.scores = scores
        # Words can be searched separately only if no piece carries "▁" inside.
        self.split_words = not any(
            SPIECE_UNDERLINE in p.piece[1:] for p in model.pieces
            if p.type in (kinds.NORMAL, kinds.USER_DEFINED, kinds.UNUSED))
        spec = [tf.TensorSpec([None], tf.string)]
        self._segment_fn = tf.function(
            self._segment, input_signature=spec, autograph=False, reduce_retracing=True,
            experimental_attributes={"_noinline": True})
        self._pass_fns = {
            flag: tf.function(
                functools.partial(self._pass_impl, rebase=flag), autograph=False,
                reduce_retracing=True, experimental_attributes={"_noinline": True})
            for flag in (False, True)
        }
        self.max_length = max(
            (len(p.piece) for p in model.pieces
             if p.type in (kinds.NORMAL, kinds.USER_DEFINED, kinds.UNUSED)),
            default=1,
        )

    @staticmethod
    def applies_to(proto: bytes) -> bool:
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        model = model_pb2.ModelProto()
        model.ParseFromString(proto)
        spec = model.trainer_spec
        return spec.model_type == model_pb2.TrainerSpec.UNIGRAM and not spec.byte_fallback

    def code_points(self, texts) -> tf.RaggedTensor:
        """The normalised text of each row as code points (SentencePiece's normaliser)."""
        pieces = self.op.tokenize(texts)
        chars = tf.strings.unicode_decode(pieces.flat_values, "UTF-8")
        return pieces.with_flat_values(chars).merge_dims(1, 2)

    def segment(self, texts):
        """Pieces of each text: ragged ids and character spans in the normalised text.

        Returns ``(ids, starts, ends, code_points)``. Traced once per segmenter
        and called as a function, so its large graph is built and optimised once.
        """
        return self._segment_fn(texts)

    def _segment(self, texts):
        cps = self.code_points(texts)
        if self.split_words:
            by_words = self._solve(cps, words=True)
            # Scores past +-1e5 make SentencePiece re-base them mid-sentence; only
            # a left-to-right scan over whole rows reproduces that. A loop run 0 or 1
            # times, not tf.cond: a TF1 session (saved_model_cli, TF Serving) lowers a
            # cond whose branch holds loops into frames that can fail to match.
            def scan_rows(i, *_):
                return (i + 1,) + tuple(self._solve(cps, words=False)[:-1])

            flat = tf.while_loop(
                lambda i, *_: i < tf.cast(by_words[-1], tf.int32),
                scan_rows,
                (tf.constant(0),) + tuple(by_words[:-1]),
                shape_invariants=(tf.TensorShape([]),) + (tf.TensorShape([None]),) * 4,
            )[1:]
        else:
            flat = self._solve(cps, words=False)[:-1]
        ids, starts, ends, rowids = flat
        nrows = cps.nrows()

        def ragged(values):
            return tf.RaggedTensor.from_value_rowids(values, tf.cast(rowids, tf.int64), nrows)

        ids, starts, ends = ragged(ids), ragged(starts), ragged(ends)
        # Runs of unknown pieces become one piece, as the processor merges them.
        is_unk = tf.equal(ids, self.unk_id)
        next_unk = tf.concat([is_unk[:, 1:], tf.zeros_like(is_unk[:, :1])], axis=1)
        keep = tf.logical_not(is_unk & next_unk)
        ids = tf.ragged.boolean_mask(ids, keep)
        ends = tf.ragged.boolean_mask(ends, keep)
        starts = tf.concat([tf.zeros_like(ends[:, :1]), ends[:, :-1]], axis=1)
        return ids, starts, ends, cps

    def _solve(self, cps, words: bool):
        """Flat piece ids, starts, ends and row ids, plus "needs the row scan" (words only).

        With ``words``, every "▁" starts a lane (no piece has an inner "▁", so
        no piece crosses it) and all lanes are searched in parallel. A lane's
        search depends on the score reached before it only through float
        rounding, so the starting scores are first guessed from a pass that
        assumes 0, then the passes repeat until every lane starts exactly
        where the previous one ended: then each lane saw the same numbers as
        the sequential search, and the result is the same, bit for bit.
        """
        layout = self._layout(cps, words)
        candidates = self._candidates(layout)
        zeros = tf.zeros(tf.stack([layout["lanes"]]), tf.float32)
        first = self._pass(layout, candidates, zeros, rebase=not words)
        if not words:
            return first[:4] + (tf.constant(False),)

        def consistent(out, prefix):
            return tf.reduce_all(tf.equal(self._chained(layout, out), prefix))

        # Usually the second pass, started from the sums along the first
        # pass's paths, is already consistent.
        prefix = self._summed(layout, first)
        second = self._pass(layout, candidates, prefix, rebase=False)

        def body(k, prefix, done, *out):
            summed = self._summed(layout, out)
            # Prefer the sums along the new paths; chaining lane ends instead
            # fixes at least one more lane per pass, whatever happens.
            stuck = (k >= 3) | tf.reduce_all(tf.equal(summed, prefix))
            prefix = tf.where(stuck, self._chained(layout, out), summed)
            out = self._pass(layout, candidates, prefix, rebase=False)
            return (k + 1, prefix, consistent(out, prefix)) + tuple(out)

        # Zero iterations when the second pass is consistent (no tf.cond around the
        # loop, for the TF1-session reason given in _segment).
        settled = tf.while_loop(
            lambda k, prefix, done, *out: tf.logical_not(done),
            body,
            (tf.constant(0), prefix, consistent(second, prefix)) + tuple(second),
        )
        prefix, out = settled[1], settled[3:]
        threshold = tf.constant(100000.0, tf.float32)
        risky = tf.reduce_any(tf.abs(out[5]) > threshold) | tf.reduce_any(tf.abs(prefix) > threshold)
        return tuple(out[:4]) + (risky,)

    def _layout(self, cps, words: bool) -> dict:
        """Lanes (rows, or words) and the order in which the search visits them.

        Lanes are sorted longest first, so at step i the lanes still running
        are a prefix of that order and their data a contiguous block.
        """
        flat = cps.flat_values
        total = tf.size(flat)
        rowids = tf.cast(cps.value_rowids(), tf.int32)
        row_starts = tf.cast(cps.row_starts(), tf.int32)
        index = tf.range(total)
        is_start = tf.equal(index, tf.gather(row_starts, rowids))
        if words:
            is_start |= tf.equal(flat, ord(SPIECE_UNDERLINE))
        lane_of = tf.cumsum(tf.cast(is_start, tf.int32)) - 1
        lane_begin = tf.cast(tf.where(is_start)[:, 0], tf.int32)
        lanes = tf.size(lane_begin)
        lane_len = tf.concat([lane_begin[1:], [total]], 0)[:lanes] - lane_begin
        lane_row = tf.gather(rowids, lane_begin)
        order = tf.argsort(-lane_len, stable=True)
        rank = tf.math.invert_permutation(order)
        sorted_len = tf.gather(lane_len, order)
        width = tf.reduce_max(tf.concat([lane_len, [0]], 0))
        active = tf.searchsorted(-sorted_len, -tf.range(width), side="left", out_type=tf.int32)
        offsets = tf.cumsum(active, exclusive=True)
        in_lane = index - tf.gather(lane_begin, lane_of)
        return {
            "flat": flat, "total": total, "rowids": rowids, "lanes": lanes,
            "lane_of": lane_of, "lane_begin": lane_begin, "lane_len": lane_len,
            "lane_row": lane_row, "lane_offset": lane_begin - tf.gather(row_starts, lane_row),
            "order": order, "width": width, "active": active, "offsets": offsets,
            "in_lane": in_lane,
            # Where the data of (lane, i) lives in visiting order.
            "visit": tf.gather(offsets, in_lane) + tf.gather(rank, lane_of),
        }

    def _candidates(self, layout):
        """Ids, scores and "has a one-character piece" per (lane, i), in visiting order."""
        span = self.max_length
        total, lane_of = layout["total"], layout["lane_of"]
        # One -1 after every lane: a walk reaching it finds no trie edge.
        slot = tf.range(total) + lane_of
        padded = tf.scatter_nd(
            tf.expand_dims(slot, 1), layout["flat"] + 1, tf.stack([total + layout["lanes"] + span])) - 1
        keys = tf.constant(self.edge_keys)
        children = tf.constant(self.edge_children)
        terminal = tf.constant(self.terminal)
        last_key = tf.size(keys) - 1
        origin = tf.range(total)
        node = tf.zeros_like(origin, dtype=tf.int64)
        found_at, found_length, found_id = [], [], []
        for step in range(span):  # walk the trie from every position at once
            cp = tf.cast(tf.gather(padded, tf.gather(slot, origin) + step), tf.int64)
            key = tf.bitwise.left_shift(node, self._CP_BITS) | cp
            j = tf.minimum(tf.searchsorted(keys, key, out_type=tf.int32), last_key)
            ok = tf.where(tf.equal(tf.gather(keys, j), key))[:, 0]
            origin = tf.gather(origin, ok)
            child = tf.gather(children, tf.gather(j, ok))
            node = tf.cast(child, tf.int64)
            piece = tf.gather(terminal, child)
            hit = tf.where(piece >= 0)[:, 0]
            found_at.append(tf.gather(origin, hit))
            found_length.append(tf.fill(tf.shape(hit), step))
            found_id.append(tf.gather(piece, hit))
        where_ = tf.stack(
            [tf.gather(layout["visit"], tf.concat(found_at, 0)), tf.concat(found_length, 0)], axis=1)
        ids = tf.tensor_scatter_nd_update(
            tf.fill(tf.stack([total, span]), -1), where_, tf.concat(found_id, 0))
        scores = tf.gather(tf.constant(self.scores), tf.maximum(ids, 0))
        return ids, scores, ids[:, 0] >= 0

    def _pass(self, layout, candidates, prefix, rebase: bool):
        return self._pass_fns[rebase](layout, candidates, prefix)

    def _pass_impl(self, layout, candidates, prefix, rebase: bool):
        """One search of every lane from the given starting scores.

        Returns, for the pieces of the best paths in text order: ids, start and
        end characters within the row, row and lane; then the best score at
        every position (word-major) and the score each path piece added.
        """
        cand_ids, cand_scores, single = candidates
        span = self.max_length
        active, offsets, order = layout["active"], layout["offsets"], layout["order"]
        unk_score = tf.constant(self.unk_score, tf.float32)
        threshold = tf.constant(100000.0, tf.float32)
        lanes = layout["lanes"]

        def new_ta(dtype):
            # Element 0 is an empty placeholder so that concat() works for empty batches.
            ta = tf.TensorArray(dtype, size=1, dynamic_size=True, infer_shape=False,
                                element_shape=tf.TensorShape([None]))
            return ta.write(0, tf.zeros([0], dtype))

        def step(i, best, window, window_start, window_id, starts_ta, ids_ta, values_ta):
            count, begin = active[i], offsets[i]
            best, window = best[:count], window[:count]
            window_start, window_id = window_start[:count], window_id[:count]
            if rebase:  # sentencepiece 0.2.2+: re-base scores that drift past +-1e5
                drifted = (best < -threshold) | (best > threshold)
                window = tf.where(
                    drifted[:, None] & (window_start != -1), window - best[:, None], window)
                best = tf.where(drifted, tf.zeros_like(best), best)
            cand_id = cand_ids[begin:begin + count]
            cand = cand_scores[begin:begin + count] + best[:, None]
            update = (cand_id >= 0) & ((window_start == -1) | (cand > window))
            window = tf.where(update, cand, window)
            window_start = tf.where(update, i, window_start)
            window_id = tf.where(update, cand_id, window_id)
            # An unknown character is a candidate only where no one-character piece matches.
            unk = unk_score + best
            take_unk = tf.logical_not(single[begin:begin + count]) & (
                (window_start[:, 0] == -1) | (unk > window[:, 0]))
            first = tf.where(take_unk, unk, window[:, 0])
            first_start = tf.where(take_unk, i, window_start[:, 0])
            first_id = tf.where(take_unk, self.unk_id, window_id[:, 0])
            pad_f = tf.zeros_like(window[:, :1])
            pad_i = tf.fill(tf.shape(pad_f), -1)
            return (
                i + 1, first,
                tf.concat([window[:, 1:], pad_f], 1),
                tf.concat([window_start[:, 1:], pad_i], 1),
                tf.concat([window_id[:, 1:], pad_i], 1),
                starts_ta.write(i + 1, first_start),
                ids_ta.write(i + 1, first_id),
                values_ta.write(i + 1, first),
            )

        unset = tf.fill(tf.stack([lanes, span]), -1)
        loop_vars = (
            tf.constant(0), tf.gather(prefix, order), tf.zeros(tf.stack([lanes, span]), tf.float32),
            unset, unset, new_ta(tf.int32), new_ta(tf.int32), new_ta(tf.float32),
        )
        # The lane count is dynamic, so the shrinking lane dimension needs no invariants.
        *_, starts_ta, ids_ta, values_ta = tf.while_loop(
            lambda i, *_: i < layout["width"], step, loop_vars)
        visit = layout["visit"]
        # Back to word-major order: node g is the end after character in_lane[g] of its lane.
        start = tf.gather(starts_ta.concat(), visit)
        piece_id = tf.gather(ids_ta.concat(), visit)
        values = tf.gather(values_ta.concat(), visit)
        on_path = self._on_path(layout, start)
        lane_of = layout["lane_of"]
        offset = tf.gather(layout["lane_offset"], lane_of)
        keep = tf.where(on_path)[:, 0]
        path_ids = tf.gather(piece_id, keep)
        path_scores = tf.where(
            tf.equal(path_ids, self.unk_id), tf.fill(tf.shape(path_ids), self.unk_score),
            tf.gather(tf.constant(self.scores), tf.maximum(path_ids, 0)))
        return (
            path_ids,
            tf.gather(offset + start, keep),
            tf.gather(offset + layout["in_lane"] + 1, keep),
            tf.gather(layout["rowids"], keep),
            tf.gather(lane_of, keep),
            values,
            path_scores,
        )

    def _on_path(self, layout, start):
        """Which positions end a piece of their lane's best path (binary lifting).

        Node g ends after character in_lane[g]; its parent is the node ending
        where its piece starts, or the root. With jumps of 2**k parents, the
        lowest node of the path at or after g is found in log(width) steps
        for every g at once; g is on the path exactly when that node is g.
        """
        total = layout["total"]
        lane_begin = tf.gather(layout["lane_begin"], layout["lane_of"])
        root = total
        parent = tf.concat([tf.where(start > 0, lane_begin + start - 1, root), [root]], 0)
        position = tf.concat([layout["in_lane"] + 1, [0]], 0)
        lane_last = layout["lane_begin"] + layout["lane_len"] - 1
        top = tf.gather(lane_last, layout["lane_of"])
        levels = tf.TensorArray(tf.int32, size=0, dynamic_size=True, clear_after_read=False,
                                element_shape=tf.TensorShape([None]))
        levels = levels.write(0, parent)

        def build(k, jump, levels):
            jump = tf.gather(jump, jump)
            return k + 1, jump, levels.write(k, jump)

        count, _, levels = tf.while_loop(
            lambda k, jump, levels: tf.bitwise.left_shift(1, k - 1) <= layout["width"],
            build, (tf.constant(1), parent, levels))
        target = position[:-1]

        def lift(k, node):
            jumped = tf.gather(levels.read(k), node)
            return k - 1, tf.where(tf.gather(position, jumped) >= target, jumped, node)

        _, lowest = tf.while_loop(lambda k, _: k >= 0, lift, (count - 1, top))
        return tf.equal(lowest, tf.range(total))

    def _chained(self, layout, out):
        """Each lane's start score if the previous lane of its row ended where it claims."""
        lane_values = tf.gather(out[5], layout["lane_begin"] + layout["lane_len"] - 1)
        previous = tf.concat([[0.0], lane_values[:-1]], 0)
        same_row = tf.concat([[False], tf.equal(layout["lane_row"][1:], layout["lane_row"][:-1])], 0)
        return tf.where(same_row, previous, tf.zeros_like(previous))

    def _summed(self, layout, out):
        """Each lane's start score as the float sum, left to right, of the path before it."""
        path_rows, path_lanes, path_scores = out[3], out[4], out[6]
        nrows = tf.reduce_max(tf.concat([layout["rowids"] + 1, [0]], 0))
        per_row = tf.RaggedTensor.from_value_rowids(path_scores, path_rows, nrows)
        # tf.cumsum adds strictly left to right, as the C++ loop does.
        before = tf.cumsum(per_row.to_tensor(), axis=1, exclusive=True)
        flat_before = tf.RaggedTensor.from_tensor(before, lengths=per_row.row_lengths()).flat_values
        first_piece = tf.math.unsorted_segment_min(
            tf.range(tf.size(path_lanes)), path_lanes, layout["lanes"])
        return tf.gather(flat_before, first_piece)
