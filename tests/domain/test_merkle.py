"""The RFC 9162 Merkle tree: the Certificate Transparency reference vectors, then every inclusion
and consistency proof of every tree up to 64 leaves, and altered proofs refused."""

from __future__ import annotations

import hashlib
import random

import pytest

from service.domain import merkle

# The eight leaves of the Certificate Transparency test suite and the roots of their prefixes.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (0-based leaf, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def subtree_of(hashes: list[bytes]) -> merkle.Subtree:
    return lambda start, end: merkle.root(hashes[start:end])


def recursive_root(hashes: list[bytes]) -> bytes:
    """MTH written as RFC 9162 states it, to check the iterative one."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = merkle.split(len(hashes))
    return merkle.node_hash(recursive_root(hashes[:k]), recursive_root(hashes[k:]))


def altered(proof: list[bytes], rng: random.Random) -> list[list[bytes]]:
    """The ways a proof can be wrong: a flipped bit in any element, one element dropped, one added."""
    variants = []
    for position in range(len(proof)):
        bad = bytearray(proof[position])
        bad[rng.randrange(merkle.HASH_SIZE)] ^= 1 << rng.randrange(8)
        variants.append([*proof[:position], bytes(bad), *proof[position + 1:]])
    if proof:
        variants.append(proof[:-1])
    variants.append([*proof, hashlib.sha256(b"en trop").digest()])
    return variants


class TestReferenceVectors:
    def test_roots_of_every_prefix(self) -> None:
        for size in range(len(LEAVES) + 1):
            assert merkle.root(HASHES[:size]).hex() == ROOTS[size]

    @pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
    def test_inclusion_proofs(self, index: int, size: int, path: list[str]) -> None:
        proof = merkle.inclusion_proof(index, size, subtree_of(HASHES))
        assert [p.hex() for p in proof] == path
        assert merkle.verify_inclusion(index, size, HASHES[index], proof, bytes.fromhex(ROOTS[size]))

    @pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY)
    def test_consistency_proofs(self, first: int, second: int, expected: list[str]) -> None:
        proof = merkle.consistency_proof(first, second, subtree_of(HASHES))
        assert [p.hex() for p in proof] == expected
        assert merkle.verify_consistency(first, second, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]),
                                         proof)


SIZES = range(1, 65)
TREE = [merkle.leaf_hash(f"événement {i}".encode()) for i in range(max(SIZES))]


class TestEveryTreeUpTo64Leaves:
    def test_the_iterative_root_is_the_rfc_definition(self) -> None:
        for size in range(0, max(SIZES) + 1):
            assert merkle.root(TREE[:size]) == recursive_root(TREE[:size])

    def test_every_inclusion_proof_verifies_and_every_alteration_fails(self) -> None:
        rng = random.Random(9162)
        subtree = subtree_of(TREE)
        for size in SIZES:
            tree_root = merkle.root(TREE[:size])
            for index in range(size):
                proof = merkle.inclusion_proof(index, size, subtree)
                assert merkle.verify_inclusion(index, size, TREE[index], proof, tree_root), (index, size)
                for bad in altered(proof, rng):
                    assert not merkle.verify_inclusion(index, size, TREE[index], bad, tree_root), (index, size)
                other = (index + 1) % size
                if other != index:
                    assert not merkle.verify_inclusion(other, size, TREE[index], proof, tree_root)
                    assert not merkle.verify_inclusion(index, size, TREE[other], proof, tree_root)
                if size < max(SIZES):  # a (size, root) pair is what a checkpoint signs: another pair fails
                    assert not merkle.verify_inclusion(index, size + 1, TREE[index], proof,
                                                       merkle.root(TREE[:size + 1]))

    def test_every_consistency_proof_verifies_and_every_alteration_fails(self) -> None:
        rng = random.Random(6962)
        subtree = subtree_of(TREE)
        roots = {size: merkle.root(TREE[:size]) for size in SIZES}
        for second in SIZES:
            for first in range(1, second + 1):
                proof = merkle.consistency_proof(first, second, subtree)
                assert merkle.verify_consistency(first, second, roots[first], roots[second], proof), (first, second)
                for bad in altered(proof, rng):
                    assert not merkle.verify_consistency(first, second, roots[first], roots[second], bad)
                if first < second:
                    # A first tree whose history was rewritten: its root is not a prefix of the second.
                    rewritten = merkle.root([hashlib.sha256(b"autre").digest(), *TREE[1:first]])
                    assert not merkle.verify_consistency(first, second, rewritten, roots[second], proof)
                    assert not merkle.verify_consistency(first, second, roots[first], roots[second - 1], proof)


class TestImpossibleRequests:
    @pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4)])
    def test_no_inclusion_proof_outside_the_tree(self, index: int, size: int) -> None:
        with pytest.raises(ValueError):
            merkle.inclusion_proof(index, size, subtree_of(TREE))
        assert not merkle.verify_inclusion(index, size, TREE[0], [], merkle.EMPTY_ROOT)

    @pytest.mark.parametrize(("first", "second"), [(0, 4), (5, 4), (-1, 2)])
    def test_no_consistency_proof_backwards_or_from_nothing(self, first: int, second: int) -> None:
        with pytest.raises(ValueError):
            merkle.consistency_proof(first, second, subtree_of(TREE))
        assert not merkle.verify_consistency(first, second, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])

    def test_a_proof_element_of_the_wrong_length_is_refused(self) -> None:
        proof = merkle.inclusion_proof(0, 2, subtree_of(TREE))
        assert not merkle.verify_inclusion(0, 2, TREE[0], [proof[0] + b"\x00"], merkle.root(TREE[:2]))
