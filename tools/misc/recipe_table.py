"""Render docs/recipes.md from configs/recipes.yml, or check either.

    python tools/misc/recipe_table.py            # rewrite docs/recipes.md
    python tools/misc/recipe_table.py --check    # exit 1 if it is stale
    python tools/misc/recipe_table.py --config CONFIG
        # compare one config (e.g. after an edit) with its row of the table

The table gives, for each family of configs, every training setting with its
source; tests/test_configs/test_recipes.py checks every config against it.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TABLE = osp.join(ROOT, 'configs', 'recipes.yml')
DOC = osp.join(ROOT, 'docs', 'recipes.md')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='exit 1 when docs/recipes.md is out of date')
    parser.add_argument('--config', help='compare one config with its row')
    args = parser.parse_args()
    from vit_backbones.tools.recipes import (compare, families_of, load_table,
                                             read_recipe, render_markdown)
    table = load_table(TABLE)
    if args.config:
        from mmengine.config import Config
        network = osp.basename(osp.dirname(osp.abspath(args.config)))
        name = osp.basename(args.config)
        if network not in table:
            sys.exit(f'{args.config}: not a config of '
                     f'{sorted(k for k in table if not k.startswith("_"))}')
        families = families_of(table, network, name)
        if len(families) != 1:
            sys.exit(f'{name} matches {len(families)} families of '
                     f'{TABLE}; it must match exactly one')
        problems = compare(read_recipe(Config.fromfile(args.config), name),
                           families[0], name)
        for problem in problems:
            print(problem)
        print(f'{name}: {len(problems)} departure(s) from '
              f'"{families[0]["name"]}"')
        sys.exit(1 if problems else 0)
    text = render_markdown(table)
    if args.check:
        with open(DOC, encoding='utf-8') as f:
            if f.read() != text:
                sys.exit(f'{DOC} is out of date: run {sys.argv[0]}')
        return
    tmp = DOC + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    import os
    os.replace(tmp, DOC)  # never a half-written file
    print(f'wrote {DOC}')


if __name__ == '__main__':
    main()
