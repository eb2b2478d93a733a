from jinja2.runtime import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = 'report.html.j2'

def root(context, missing=missing, environment=environment):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_summary = resolve('summary')
    l_0_csp = resolve('csp')
    l_0_report = resolve('report')
    l_0_css = resolve('css')
    l_0_view = resolve('view')
    l_0_diagram = resolve('diagram')
    l_0_sockets = resolve('sockets')
    l_0_s = l_0_status = l_0_ep = l_0_scope_tag = l_0_svgnode = l_0_first = l_0_d = l_0_u = missing
    try:
        t_1 = environment.filters['ep']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'ep' found.")
    try:
        t_2 = environment.filters['join']
    except KeyError:
        @internalcode
        def t_2(*unused):
            raise TemplateRuntimeError("No filter named 'join' found.")
    try:
        t_3 = environment.filters['length']
    except KeyError:
        @internalcode
        def t_3(*unused):
            raise TemplateRuntimeError("No filter named 'length' found.")
    try:
        t_4 = environment.filters['list']
    except KeyError:
        @internalcode
        def t_4(*unused):
            raise TemplateRuntimeError("No filter named 'list' found.")
    try:
        t_5 = environment.filters['num']
    except KeyError:
        @internalcode
        def t_5(*unused):
            raise TemplateRuntimeError("No filter named 'num' found.")
    try:
        t_6 = environment.filters['privilege']
    except KeyError:
        @internalcode
        def t_6(*unused):
            raise TemplateRuntimeError("No filter named 'privilege' found.")
    try:
        t_7 = environment.filters['replace']
    except KeyError:
        @internalcode
        def t_7(*unused):
            raise TemplateRuntimeError("No filter named 'replace' found.")
    try:
        t_8 = environment.filters['selectattr']
    except KeyError:
        @internalcode
        def t_8(*unused):
            raise TemplateRuntimeError("No filter named 'selectattr' found.")
    try:
        t_9 = environment.filters['upper']
    except KeyError:
        @internalcode
        def t_9(*unused):
            raise TemplateRuntimeError("No filter named 'upper' found.")
    try:
        t_10 = environment.tests['none']
    except KeyError:
        @internalcode
        def t_10(*unused):
            raise TemplateRuntimeError("No test named 'none' found.")
    pass
    l_0_s = (undefined(name='summary') if l_0_summary is missing else l_0_summary)
    context.vars['s'] = l_0_s
    context.exported_vars.add('s')
    l_0_status = (environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'status') if ((environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'status') != 'ok') or (not environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'listeners_exposed'))) else 'exposed')
    context.vars['status'] = l_0_status
    context.exported_vars.add('status')
    def macro(l_1_o):
        t_11 = []
        if l_1_o is missing:
            l_1_o = undefined("parameter 'o' was not provided", name='o')
        pass
        t_11.append(
            escape(environment.finalize(t_1(l_1_o))),
        )
        return concat(t_11)
    context.exported_vars.add('ep')
    context.vars['ep'] = l_0_ep = Macro(environment, macro, 'ep', ('o',), False, False, False, context.eval_ctx.autoescape)
    def macro(l_1_sc):
        t_12 = []
        l_1_scope_labels = resolve('scope_labels')
        if l_1_sc is missing:
            l_1_sc = undefined("parameter 'sc' was not provided", name='sc')
        pass
        t_12.extend((
            '<span class="scope sc-',
            escape(environment.finalize(l_1_sc)),
            '">',
            escape(environment.finalize(environment.getitem((undefined(name='scope_labels') if l_1_scope_labels is missing else l_1_scope_labels), l_1_sc))),
            '</span>',
        ))
        return concat(t_12)
    context.exported_vars.add('scope_tag')
    context.vars['scope_tag'] = l_0_scope_tag = Macro(environment, macro, 'scope_tag', ('sc',), False, False, False, context.eval_ctx.autoescape)
    def macro(l_1_n, l_1_fill, l_1_stroke, l_1_text_color):
        t_13 = []
        if l_1_n is missing:
            l_1_n = undefined("parameter 'n' was not provided", name='n')
        if l_1_fill is missing:
            l_1_fill = undefined("parameter 'fill' was not provided", name='fill')
        if l_1_stroke is missing:
            l_1_stroke = undefined("parameter 'stroke' was not provided", name='stroke')
        if l_1_text_color is missing:
            l_1_text_color = undefined("parameter 'text_color' was not provided", name='text_color')
        pass
        t_13.extend((
            '<g>\n  <rect x="',
            escape(environment.finalize(environment.getattr(l_1_n, 'x'))),
            '" y="',
            escape(environment.finalize(environment.getattr(l_1_n, 'y'))),
            '" width="',
            escape(environment.finalize(environment.getattr(l_1_n, 'w'))),
            '" height="',
            escape(environment.finalize(environment.getattr(l_1_n, 'h'))),
            '" rx="10" fill="',
            escape(environment.finalize(l_1_fill)),
            '" stroke="',
            escape(environment.finalize(l_1_stroke)),
            '" stroke-width="1.5"/>\n  <text x="',
            escape(environment.finalize((environment.getattr(l_1_n, 'x') + 12))),
            '" y="',
            escape(environment.finalize((environment.getattr(l_1_n, 'y') + 21))),
            '" font-size="13" font-weight="600" fill="',
            escape(environment.finalize(l_1_text_color)),
            '">',
            escape(environment.finalize(environment.getattr(l_1_n, 'title'))),
            '</text>\n  <text x="',
            escape(environment.finalize((environment.getattr(l_1_n, 'x') + 12))),
            '" y="',
            escape(environment.finalize((environment.getattr(l_1_n, 'y') + 39))),
            '" font-size="12" fill="',
            escape(environment.finalize(l_1_text_color)),
            '" opacity="0.85">',
            escape(environment.finalize(environment.getattr(l_1_n, 'sub'))),
            '</text>\n</g>',
        ))
        return concat(t_13)
    context.exported_vars.add('svgnode')
    context.vars['svgnode'] = l_0_svgnode = Macro(environment, macro, 'svgnode', ('n', 'fill', 'stroke', 'text_color'), False, False, False, context.eval_ctx.autoescape)
    yield '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="'
    yield escape(environment.finalize((undefined(name='csp') if l_0_csp is missing else l_0_csp)))
    yield '">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n<meta name="referrer" content="no-referrer">\n<meta name="generator" content="'
    yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'tool'), 'name')))
    yield ' '
    yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'tool'), 'version')))
    yield '">\n<title>Exposure report: '
    yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'hostname')))
    yield '</title>\n<style>'
    yield escape(environment.finalize((undefined(name='css') if l_0_css is missing else l_0_css)))
    yield '</style>\n</head>\n<body>\n<header>\n  <h1>What on '
    yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'hostname')))
    yield ' can others reach?</h1>\n  <div class="meta">\n    <span>'
    yield escape(environment.finalize(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'generated_at')))
    yield '</span>\n    <span>'
    yield escape(environment.finalize((environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os_release') or environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'))))
    yield '</span>\n    <span>'
    yield escape(environment.finalize((t_6(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'), 'elevated') if environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'privileged') else markup_join((t_6(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'), 'not_elevated'), ': some processes may be unattributed', )))))
    yield '</span>'
    if environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'facts_file'):
        pass
        yield '<span>from saved facts '
        yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'facts_file')))
        yield '</span>'
    yield '\n  </div>\n</header>\n\n<section class="verdict s-'
    yield escape(environment.finalize((undefined(name='status') if l_0_status is missing else l_0_status)))
    yield '" id="verdict">\n  <span class="status">'
    yield escape(environment.finalize(('all clear' if ((undefined(name='status') if l_0_status is missing else l_0_status) == 'ok') else ('review' if ((undefined(name='status') if l_0_status is missing else l_0_status) == 'exposed') else (undefined(name='status') if l_0_status is missing else l_0_status)))))
    yield '</span>\n  <p>'
    yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'verdict_headline')))
    yield escape(environment.finalize((':' if environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'verdict_reasons') else '.')))
    yield '</p>'
    if environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'verdict_reasons'):
        pass
        yield '\n  <ul class="reasons">'
        for l_1_r in environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'verdict_reasons'):
            _loop_vars = {}
            pass
            yield '<li>'
            yield escape(environment.finalize(l_1_r))
            yield '</li>'
        l_1_r = missing
        yield '</ul>'
    l_0_first = (environment.getitem(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks'), 0) if ((environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks') and environment.getattr(environment.getitem(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks'), 0), 'severity')) and environment.getattr(environment.getitem(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks'), 0), 'fixes')) else None)
    context.vars['first'] = l_0_first
    context.exported_vars.add('first')
    if (undefined(name='first') if l_0_first is missing else l_0_first):
        pass
        yield '\n  <div class="first"><b>Fix first:</b> '
        yield escape(environment.finalize(environment.getitem(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'fixes'), 0)))
        yield '\n    <span class="meta">('
        if environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'exposure'):
            pass
            yield escape(environment.finalize((environment.getattr(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'exposure'), 'process'), 'name') if (environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'exposure'), 'process') and environment.getattr(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'exposure'), 'process'), 'name')) else 'unknown process')))
            yield ' on '
            yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'exposure'), 'protocol')))
            yield ' '
            yield escape(environment.finalize((environment.call(context, (undefined(name='ep') if l_0_ep is missing else l_0_ep), environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'exposure')) if (environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'count') == 1) else environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'where_count'))))
        else:
            pass
            yield 'router port '
            yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'mapping'), 'external_port')))
            yield '/'
            yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='first') if l_0_first is missing else l_0_first), 'mapping'), 'protocol')))
        yield ')</span></div>'
    yield '\n  <div class="sub">'
    if (environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'findings_total') - environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived')):
        pass
        yield escape(environment.finalize((environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'findings_total') - environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived'))))
        yield ' finding'
        yield escape(environment.finalize(('s' if ((environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'findings_total') - environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived')) != 1) else cond_expr_undefined("the inline if-expression on line 52 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ' to look at'
    else:
        pass
        yield 'No findings'
    if environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived'):
        pass
        yield ', '
        yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived')))
        yield ' waived'
    yield '.\n    '
    yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'listeners_total')))
    yield ' listening socket'
    yield escape(environment.finalize(('s' if (environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'listeners_total') != 1) else cond_expr_undefined("the inline if-expression on line 54 in 'report.html.j2' evaluated to false and no else section was defined."))))
    yield ' in all, '
    yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'listeners_exposed')))
    yield ' reachable beyond this machine'
    if environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'listeners_blocked_by_firewall'):
        pass
        yield ', '
        yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'listeners_blocked_by_firewall')))
        yield ' more blocked by the firewall'
    yield '.'
    if environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'dangling_mappings'):
        pass
        yield ' '
        yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'dangling_mappings')))
        yield ' router port mapping'
        yield escape(environment.finalize(('s' if (environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'dangling_mappings') != 1) else cond_expr_undefined("the inline if-expression on line 56 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ' to this host with nothing listening.'
    yield '\n  </div>\n</section>\n\n<div class="counts">'
    for l_1_sev in environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'severities_desc'):
        _loop_vars = {}
        pass
        yield '\n  <div class="count s-'
        yield escape(environment.finalize(l_1_sev))
        yield escape(environment.finalize((' zero' if (not environment.getitem(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'by_severity'), l_1_sev)) else cond_expr_undefined("the inline if-expression on line 62 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield '"><b>'
        yield escape(environment.finalize(environment.getitem(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'by_severity'), l_1_sev)))
        yield '</b><span>'
        yield escape(environment.finalize(l_1_sev))
        yield '</span></div>'
    l_1_sev = missing
    yield '\n  <div class="count'
    yield escape(environment.finalize((' zero' if (not environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived')) else cond_expr_undefined("the inline if-expression on line 64 in 'report.html.j2' evaluated to false and no else section was defined."))))
    yield '"><b>'
    yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'waived')))
    yield '</b><span>waived</span></div>\n</div>\n\n<h2>What reaches what</h2>'
    l_0_d = (undefined(name='diagram') if l_0_diagram is missing else l_0_diagram)
    context.vars['d'] = l_0_d
    context.exported_vars.add('d')
    yield '\n<div class="diagram">\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '
    yield escape(environment.finalize(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'width')))
    yield ' '
    yield escape(environment.finalize(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'height')))
    yield '" role="img" aria-label="Diagram: networks and the services they can reach">'
    for l_1_c in environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'columns'):
        _loop_vars = {}
        pass
        yield '\n  <text x="'
        yield escape(environment.finalize(environment.getattr(l_1_c, 'x')))
        yield '" y="22" font-size="12" font-weight="600" fill="#64748b" letter-spacing="0.5">'
        yield escape(environment.finalize(t_9(environment.getattr(l_1_c, 'label'))))
        yield '</text>'
    l_1_c = missing
    for l_1_e in environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'edges'):
        _loop_vars = {}
        pass
        yield '\n  <path d="'
        yield escape(environment.finalize(environment.getattr(l_1_e, 'd')))
        yield '" fill="none" stroke="'
        yield escape(environment.finalize(environment.getattr(l_1_e, 'color')))
        yield '" stroke-width="'
        yield escape(environment.finalize((environment.getattr(l_1_e, 'width') or 2)))
        yield '"'
        if environment.getattr(l_1_e, 'dashed'):
            pass
            yield ' stroke-dasharray="7 5"'
        if environment.getattr(l_1_e, 'filtered'):
            pass
            yield ' stroke-dasharray="2 4" opacity="0.5"'
        else:
            pass
            yield ' opacity="0.8"'
        yield '/>'
    l_1_e = missing
    yield '\n  '
    yield escape(environment.finalize(environment.call(context, (undefined(name='svgnode') if l_0_svgnode is missing else l_0_svgnode), environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'internet'), '#0f172a', '#0f172a', '#ffffff')))
    if environment.getattr(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'router'), 'muted'):
        pass
        yield '\n  '
        yield escape(environment.finalize(environment.call(context, (undefined(name='svgnode') if l_0_svgnode is missing else l_0_svgnode), environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'router'), '#f8fafc', '#cbd5e1', '#64748b')))
    else:
        pass
        yield '\n  '
        yield escape(environment.finalize(environment.call(context, (undefined(name='svgnode') if l_0_svgnode is missing else l_0_svgnode), environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'router'), '#1e293b', '#1e293b', '#ffffff')))
    for l_1_n in environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'networks'):
        _loop_vars = {}
        pass
        yield '\n  '
        yield escape(environment.finalize(environment.call(context, (undefined(name='svgnode') if l_0_svgnode is missing else l_0_svgnode), l_1_n, '#ffffff', environment.getattr(l_1_n, 'color'), '#0f172a', _loop_vars=_loop_vars)))
    l_1_n = missing
    for l_1_n in environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'listeners'):
        _loop_vars = {}
        pass
        yield '\n  <g><title>'
        yield escape(environment.finalize(environment.getattr(l_1_n, 'tooltip')))
        yield '</title>\n  '
        yield escape(environment.finalize(environment.call(context, (undefined(name='svgnode') if l_0_svgnode is missing else l_0_svgnode), l_1_n, environment.getattr(l_1_n, 'color'), environment.getattr(l_1_n, 'color'), '#ffffff', _loop_vars=_loop_vars)))
        yield '\n  </g>'
    l_1_n = missing
    for l_1_n in environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'dangling'):
        _loop_vars = {}
        pass
        yield '\n  '
        yield escape(environment.finalize(environment.call(context, (undefined(name='svgnode') if l_0_svgnode is missing else l_0_svgnode), l_1_n, '#ffffff', '#94a3b8', '#64748b', _loop_vars=_loop_vars)))
    l_1_n = missing
    if ((not environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'listeners')) and (not environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'dangling'))):
        pass
        yield '\n  <text x="'
        yield escape(environment.finalize(environment.getattr(environment.getitem(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'columns'), 2), 'x')))
        yield '" y="70" font-size="13" fill="#15803d">Nothing reachable beyond this machine</text>'
    yield '\n</svg>\n<div class="legend">\n  <span><i class="s-critical"></i>critical</span><span><i class="s-high"></i>high</span>\n  <span><i class="s-medium"></i>medium</span><span><i class="s-low"></i>low</span>\n  <span><i></i>no finding / info</span><span>dashed: forwarded by the router (UPnP)</span>'
    if t_4(context.eval_ctx, t_8(context, environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'edges'), 'filtered')):
        pass
        yield '<span>dotted, faded: the firewall filters this path</span>'
    yield '\n</div>'
    if environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'folded'):
        pass
        yield '<p class="note" id="folded">'
        yield escape(environment.finalize(t_5(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'folded'))))
        yield ' more service'
        yield escape(environment.finalize(('s' if (environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'folded') != 1) else cond_expr_undefined("the inline if-expression on line 104 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ' folded into '
        yield escape(environment.finalize(t_5(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'folded_groups'))))
        yield ' group'
        yield escape(environment.finalize(('s' if (environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'folded_groups') != 1) else cond_expr_undefined("the inline if-expression on line 104 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ': one box for the listeners of one process'
        if environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'folded_processes'):
            pass
            yield ', or of alike processes (one program and user, command lines that differ only in their ports),'
        yield ' on one address with the same reach and findings.</p>'
    if environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'hidden'):
        pass
        yield '<p class="note" id="hidden">'
        yield escape(environment.finalize(t_5(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'hidden'))))
        yield ' more exposed listener'
        yield escape(environment.finalize(('s' if (environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'hidden') != 1) else cond_expr_undefined("the inline if-expression on line 105 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ' not drawn'
        if (environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'hidden_groups') != environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'hidden')):
            pass
            yield ' (in '
            yield escape(environment.finalize(t_5(environment.getattr((undefined(name='d') if l_0_d is missing else l_0_d), 'hidden_groups'))))
            yield ' groups)'
        yield '; '
        yield escape(environment.finalize(('all are listed below' if (not environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks')) else 'the JSON report lists every one')))
        yield '.</p>'
    if environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'loopback_only'):
        pass
        yield '<p class="note">'
        yield escape(environment.finalize(t_3(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'loopback_only'))))
        yield ' listener'
        yield escape(environment.finalize(('s' if (t_3(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'loopback_only')) != 1) else cond_expr_undefined("the inline if-expression on line 106 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ' reachable from this machine only '
        yield escape(environment.finalize(('are' if (t_3(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'loopback_only')) != 1) else 'is')))
        yield ' not drawn.</p>'
    yield '\n</div>\n\n<h2>Findings, by service (worst first)</h2>'
    if (not environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks')):
        pass
        yield '\n<p class="empty">Nothing to fix: no service is reachable from other machines.</p>'
    l_1_loop = missing
    for l_1_b, l_1_loop in LoopContext(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks'), undefined):
        l_1_x = resolve('x')
        l_1_p = resolve('p')
        l_1_m = resolve('m')
        l_1_sev = missing
        _loop_vars = {}
        pass
        l_1_sev = (environment.getattr(l_1_b, 'severity') or ('waived' if environment.getattr(l_1_b, 'waived') else 'none'))
        _loop_vars['sev'] = l_1_sev
        yield '\n<article class="card s-'
        yield escape(environment.finalize((undefined(name='sev') if l_1_sev is missing else l_1_sev)))
        yield '">'
        if (environment.getattr(l_1_b, 'kind') == 'listener'):
            pass
            l_1_x = environment.getattr(l_1_b, 'exposure')
            _loop_vars['x'] = l_1_x
            l_1_p = environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'process')
            _loop_vars['p'] = l_1_p
            yield '\n  <header>\n    <span class="badge s-'
            yield escape(environment.finalize((undefined(name='sev') if l_1_sev is missing else l_1_sev)))
            yield escape(environment.finalize((' waived' if ((undefined(name='sev') if l_1_sev is missing else l_1_sev) == 'waived') else cond_expr_undefined("the inline if-expression on line 119 in 'report.html.j2' evaluated to false and no else section was defined."))))
            yield '">'
            yield escape(environment.finalize((environment.getattr(l_1_b, 'severity') or ('waived' if environment.getattr(l_1_b, 'waived') else ('blocked' if (environment.getattr(l_1_b, 'exposure') and environment.getattr(environment.getattr(l_1_b, 'exposure'), 'blocked_by_firewall')) else 'exposed')))))
            yield '</span>\n    <span class="what">'
            yield escape(environment.finalize((environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'name') if ((undefined(name='p') if l_1_p is missing else l_1_p) and environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'name')) else (markup_join((environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by'), ' container ', (environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'container') or '?'), )) if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by') else 'unknown process'))))
            yield '</span>\n    <span class="where">'
            yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'protocol')))
            yield ' '
            yield escape(environment.finalize((environment.call(context, (undefined(name='ep') if l_0_ep is missing else l_0_ep), (undefined(name='x') if l_1_x is missing else l_1_x), _loop_vars=_loop_vars) if (environment.getattr(l_1_b, 'count') == 1) else environment.getattr(l_1_b, 'where'))))
            yield '</span>\n    <span class="who">'
            if (environment.getattr(l_1_b, 'processes') > 1):
                pass
                yield escape(environment.finalize(t_5(environment.getattr(l_1_b, 'processes'))))
                yield ' processes ('
                yield escape(environment.finalize(environment.getattr(l_1_b, 'pids')))
                yield ')'
                if environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username'):
                    pass
                    yield ' · '
                    yield escape(environment.finalize(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username')))
            elif ((undefined(name='p') if l_1_p is missing else l_1_p) and (not t_10(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid')))):
                pass
                yield 'pid '
                yield escape(environment.finalize(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid')))
                if environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username'):
                    pass
                    yield ' · '
                    yield escape(environment.finalize(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username')))
            else:
                pass
                yield 'owner uid '
                yield escape(environment.finalize((environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid') if (not t_10(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid'))) else 'unknown')))
            if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'container'):
                pass
                yield ' · container '
                yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'container')))
            if (environment.getattr(l_1_b, 'count') > 1):
                pass
                yield ' · '
                yield escape(environment.finalize(environment.getattr(l_1_b, 'span')))
            yield '</span>\n  </header>\n  <div class="body">'
            if (environment.getattr(l_1_b, 'count') > 1):
                pass
                yield '\n    <div class="row"><div class="k">Ports</div><div class="cmd">'
                yield escape(environment.finalize(environment.getattr(l_1_b, 'ports_listed')))
                yield '</div></div>'
            if (environment.getattr(l_1_b, 'processes') > 1):
                pass
                yield '\n    <div class="row"><div class="k">Processes</div><div class="cmd">'
                yield escape(environment.finalize(environment.getattr(l_1_b, 'pids_listed')))
                yield '</div></div>'
            yield '\n    <div class="row"><div class="k">Reachable from</div><div><ul class="plain">'
            for l_2_r in environment.getattr(l_1_b, 'from'):
                _loop_vars = {}
                pass
                yield '<li>'
                yield escape(environment.finalize(l_2_r))
                yield '</li>'
            l_2_r = missing
            yield '\n    </ul><div>'
            def t_14(fiter):
                for l_2_sc in fiter:
                    if (l_2_sc != 'loopback'):
                        yield l_2_sc
            for l_2_sc in t_14(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'scopes')):
                _loop_vars = {}
                pass
                yield escape(environment.finalize(environment.call(context, (undefined(name='scope_tag') if l_0_scope_tag is missing else l_0_scope_tag), l_2_sc, _loop_vars=_loop_vars)))
            l_2_sc = missing
            yield '</div></div></div>\n    <div class="row"><div class="k">Command</div><div>'
            if ((undefined(name='p') if l_1_p is missing else l_1_p) and environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'cmdline')):
                pass
                yield '<div class="cmd">'
                yield escape(environment.finalize(t_2(context.eval_ctx, environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'cmdline'), ' ')))
                yield '</div>'
                if (environment.getattr(l_1_b, 'processes') > 1):
                    pass
                    yield '<div class="msg">Shown for pid '
                    yield escape(environment.finalize(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid')))
                    yield '; the other '
                    yield escape(environment.finalize(t_5((environment.getattr(l_1_b, 'processes') - 1))))
                    yield ' processes are alike but for their ports.</div>'
            elif (undefined(name='p') if l_1_p is missing else l_1_p):
                pass
                yield '<span class="empty">no command line (kernel thread or not readable)</span>'
            elif environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'notes'):
                pass
                yield '<span class="empty">'
                yield escape(environment.finalize(t_2(context.eval_ctx, environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'notes'), '; ')))
                yield '</span>'
            else:
                pass
                yield '<span class="empty">process not readable'
                if (not t_10(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid'))):
                    pass
                    yield ' (socket owner uid '
                    yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid')))
                    yield ')'
                yield ': '
                yield escape(environment.finalize(t_6(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'), 'short')))
                yield ' for full attribution</span>'
            yield '\n    </div></div>'
            def t_15(fiter):
                for l_2_f in fiter:
                    if environment.getattr(l_2_f, 'identity'):
                        yield l_2_f
            l_2_loop = missing
            for l_2_f, l_2_loop in LoopContext(t_15(environment.getattr(l_1_b, 'findings')), undefined):
                l_2_identity_sources = resolve('identity_sources')
                _loop_vars = {}
                pass
                if environment.getattr(l_2_loop, 'first'):
                    pass
                    yield '\n    <div class="row"><div class="k">Identified</div><div><b>'
                    yield escape(environment.finalize(environment.getattr(environment.getattr(l_2_f, 'identity'), 'name')))
                    yield '</b> <span class="empty">from '
                    yield escape(environment.finalize(environment.call(context, environment.getattr((undefined(name='identity_sources') if l_2_identity_sources is missing else l_2_identity_sources), 'get'), environment.getattr(environment.getattr(l_2_f, 'identity'), 'source'), environment.getattr(environment.getattr(l_2_f, 'identity'), 'source'), _loop_vars=_loop_vars)))
                    yield '</span>'
                    for l_3_e in environment.getattr(environment.getattr(l_2_f, 'identity'), 'evidence'):
                        _loop_vars = {}
                        pass
                        yield '<div class="msg">'
                        yield escape(environment.finalize(l_3_e))
                        yield '</div>'
                    l_3_e = missing
                    yield '</div></div>'
            l_2_loop = l_2_f = l_2_identity_sources = missing
            if (environment.getattr(l_1_b, 'findings') or environment.getattr(l_1_b, 'waived')):
                pass
                yield '\n    <div class="row"><div class="k">Why</div><div>'
                l_2_loop = missing
                for l_2_f, l_2_loop in LoopContext(environment.getattr(l_1_b, 'findings'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n      <div class="finding"><span class="badge s-'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'severity')))
                    yield '">'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'severity')))
                    yield '</span><span class="rid">'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'rule_id')))
                    yield '</span><b>'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'title')))
                    yield '</b>\n        <div class="msg">'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'message')))
                    yield '</div>'
                    if (environment.getattr(l_1_b, 'count') > 1):
                        pass
                        yield '<div class="msg">The same on each of the '
                        yield escape(environment.finalize(environment.getattr(l_1_b, 'span')))
                        yield '; shown for port '
                        yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'port')))
                        yield ' (the JSON report lists every one).</div>'
                    if environment.getattr(l_2_f, 'waiver_expired'):
                        pass
                        yield '<div class="msg">A waiver for this expired: it counts again.</div>'
                    if environment.getattr(l_2_f, 'references'):
                        pass
                        yield '<div class="refs">'
                        l_3_loop = missing
                        for l_3_ref, l_3_loop in LoopContext(environment.getattr(l_2_f, 'references'), undefined):
                            _loop_vars = {}
                            pass
                            if (environment.call(context, environment.getattr(l_3_ref, 'startswith'), 'https://', _loop_vars=_loop_vars) or environment.call(context, environment.getattr(l_3_ref, 'startswith'), 'http://', _loop_vars=_loop_vars)):
                                pass
                                yield '<a href="'
                                yield escape(environment.finalize(l_3_ref))
                                yield '" rel="noreferrer noopener">'
                                yield escape(environment.finalize(l_3_ref))
                                yield '</a>'
                            else:
                                pass
                                yield escape(environment.finalize(l_3_ref))
                            yield escape(environment.finalize((' · ' if (not environment.getattr(l_3_loop, 'last')) else cond_expr_undefined("the inline if-expression on line 152 in 'report.html.j2' evaluated to false and no else section was defined."))))
                        l_3_loop = l_3_ref = missing
                        yield '</div>'
                    yield '\n      </div>'
                l_2_loop = l_2_f = missing
                for l_2_f in environment.getattr(l_1_b, 'waived'):
                    _loop_vars = {}
                    pass
                    yield '\n      <div class="finding"><span class="badge waived">waived</span><span class="rid">'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'rule_id')))
                    yield '</span>'
                    yield escape(environment.finalize(environment.getattr(l_2_f, 'title')))
                    yield '\n        <div class="msg">Waived: '
                    yield escape(environment.finalize((environment.getattr(l_2_f, 'waiver_reason') or 'no reason given')))
                    yield '</div></div>'
                l_2_f = missing
                yield '\n    </div></div>'
            else:
                pass
                if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'blocked_by_firewall'):
                    pass
                    yield '\n    <div class="row"><div class="k">Why</div><div>Blocked by the firewall on every path checked: '
                    yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'firewall_evidence')))
                    yield '</div></div>'
                else:
                    pass
                    yield '\n    <div class="row"><div class="k">Why</div><div>No rule flags it, but it is reachable beyond this machine.</div></div>'
            if environment.getattr(l_1_b, 'fixes'):
                pass
                yield '\n    <div class="fix"><b>Fix</b>'
                if (not t_10(environment.getattr(l_1_b, 'fix_port'))):
                    pass
                    yield 'On port '
                    yield escape(environment.finalize(environment.getattr(l_1_b, 'fix_port')))
                    yield ' (likewise on each port): '
                if (t_3(environment.getattr(l_1_b, 'fixes')) == 1):
                    pass
                    yield escape(environment.finalize(environment.getitem(environment.getattr(l_1_b, 'fixes'), 0)))
                else:
                    pass
                    yield '<ul>'
                    for l_2_fix in environment.getattr(l_1_b, 'fixes'):
                        _loop_vars = {}
                        pass
                        yield '<li>'
                        yield escape(environment.finalize(l_2_fix))
                        yield '</li>'
                    l_2_fix = missing
                    yield '</ul>'
                yield '</div>'
            elif (not environment.getattr(l_1_b, 'waived')):
                pass
                yield '\n    <div class="fix"><b>Fix</b>'
                if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by'):
                    pass
                    yield 'If only this machine uses it, publish it on loopback only: <code>'
                    yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by')))
                    yield ' run -p 127.0.0.1:'
                    yield escape(environment.finalize((environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'port') if (environment.getattr(l_1_b, 'count') == 1) else 'PORT')))
                    yield ':...</code>'
                else:
                    pass
                    yield 'If only this machine uses it, bind it to 127.0.0.1 (or ::1).'
                yield '</div>'
            yield '\n  </div>'
        else:
            pass
            l_1_m = environment.getattr(l_1_b, 'mapping')
            _loop_vars['m'] = l_1_m
            yield '\n  <header>\n    <span class="badge s-'
            yield escape(environment.finalize((undefined(name='sev') if l_1_sev is missing else l_1_sev)))
            yield escape(environment.finalize((' waived' if ((undefined(name='sev') if l_1_sev is missing else l_1_sev) == 'waived') else cond_expr_undefined("the inline if-expression on line 176 in 'report.html.j2' evaluated to false and no else section was defined."))))
            yield '">'
            yield escape(environment.finalize((environment.getattr(l_1_b, 'severity') or ('waived' if environment.getattr(l_1_b, 'waived') else 'mapping'))))
            yield '</span>\n    <span class="what">Router forwards port '
            yield escape(environment.finalize(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'external_port')))
            yield '/'
            yield escape(environment.finalize(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'protocol')))
            yield ': nothing listens</span>\n    <span class="where">→ '
            yield escape(environment.finalize(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'internal_client')))
            yield ':'
            yield escape(environment.finalize(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'internal_port')))
            yield '</span>\n  </header>\n  <div class="body">\n    <div class="row"><div class="k">UPnP mapping</div><div>'
            yield escape(environment.finalize((environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'description') or '(no description)')))
            if environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'lease_duration'):
                pass
                yield ' · lease '
                yield escape(environment.finalize(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'lease_duration')))
                yield ' s'
            else:
                pass
                yield ' · permanent'
            if environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'remote_host'):
                pass
                yield ' · only from '
                yield escape(environment.finalize(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'remote_host')))
            yield '</div></div>'
            for l_2_f in environment.getattr(l_1_b, 'findings'):
                _loop_vars = {}
                pass
                yield '\n    <div class="row"><div class="k">Why</div><div class="finding"><span class="badge s-'
                yield escape(environment.finalize(environment.getattr(l_2_f, 'severity')))
                yield '">'
                yield escape(environment.finalize(environment.getattr(l_2_f, 'severity')))
                yield '</span><span class="rid">'
                yield escape(environment.finalize(environment.getattr(l_2_f, 'rule_id')))
                yield '</span><b>'
                yield escape(environment.finalize(environment.getattr(l_2_f, 'title')))
                yield '</b><div class="msg">'
                yield escape(environment.finalize(environment.getattr(l_2_f, 'message')))
                yield '</div></div></div>'
            l_2_f = missing
            for l_2_f in environment.getattr(l_1_b, 'waived'):
                _loop_vars = {}
                pass
                yield '\n    <div class="row"><div class="k">Why</div><div>Waived ('
                yield escape(environment.finalize(environment.getattr(l_2_f, 'rule_id')))
                yield '): '
                yield escape(environment.finalize((environment.getattr(l_2_f, 'waiver_reason') or 'no reason given')))
                yield '</div></div>'
            l_2_f = missing
            if (not environment.getattr(l_1_b, 'waived')):
                pass
                yield '\n    <div class="fix"><b>Fix</b>'
                yield escape(environment.finalize((environment.getitem(environment.getattr(l_1_b, 'fixes'), 0) if environment.getattr(l_1_b, 'fixes') else markup_join(('Delete the mapping: upnpc -d ', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'external_port'), ' ', t_9(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'protocol')), )))))
                yield '</div>'
            yield '\n  </div>'
        yield '\n</article>'
    l_1_loop = l_1_b = l_1_sev = l_1_x = l_1_p = l_1_m = missing
    if environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks'):
        pass
        yield '\n<p class="meta" id="hidden-cards">'
        yield escape(environment.finalize(t_5(environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks'))))
        yield ' more entr'
        yield escape(environment.finalize(('ies' if (environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks') != 1) else 'y')))
        yield ' ('
        yield escape(environment.finalize(t_5(environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'listeners'))))
        yield ' listeners or router mappings, the least severe) not shown: the JSON report lists every one.</p>'
    yield '\n\n<h2>Facts</h2>\n<h3>Interfaces and addresses</h3>\n<table>\n  <tr><th>Interface</th><th>Kind</th><th>State</th><th>Addresses</th></tr>'
    for l_1_i in environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'interfaces'):
        _loop_vars = {}
        pass
        yield '\n  <tr class="'
        yield escape(environment.finalize(('down' if (not environment.getattr(l_1_i, 'up')) else cond_expr_undefined("the inline if-expression on line 204 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield '"><td class="mono">'
        yield escape(environment.finalize(environment.getattr(l_1_i, 'name')))
        yield '</td><td>'
        yield escape(environment.finalize(t_7(context.eval_ctx, environment.getattr(l_1_i, 'kind'), '_', ' ')))
        yield '</td><td>'
        yield escape(environment.finalize(('up' if environment.getattr(l_1_i, 'up') else 'down')))
        yield '</td>\n    <td>'
        t_16 = 1
        for l_2_a in environment.getattr(l_1_i, 'addresses'):
            _loop_vars = {}
            pass
            yield '<div><span class="mono">'
            yield escape(environment.finalize(environment.getattr(l_2_a, 'address')))
            yield '/'
            yield escape(environment.finalize(environment.getattr(l_2_a, 'prefixlen')))
            yield '</span> '
            yield escape(environment.finalize(environment.call(context, (undefined(name='scope_tag') if l_0_scope_tag is missing else l_0_scope_tag), environment.getattr(l_2_a, 'scope'), _loop_vars=_loop_vars)))
            yield '</div>'
            t_16 = 0
        l_2_a = missing
        if t_16:
            pass
            yield '<span class="empty">none</span>'
        yield '</td></tr>'
    l_1_i = missing
    yield '\n</table>'
    if environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'gateways'):
        pass
        yield '\n<p class="meta">Default gateway'
        yield escape(environment.finalize(('s' if (t_3(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'gateways')) != 1) else cond_expr_undefined("the inline if-expression on line 209 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ': '
        l_1_loop = missing
        for l_1_g, l_1_loop in LoopContext(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'gateways'), undefined):
            _loop_vars = {}
            pass
            yield '<span class="mono">'
            yield escape(environment.finalize(environment.getattr(l_1_g, 'address')))
            yield '</span> via '
            yield escape(environment.finalize(environment.getattr(l_1_g, 'interface')))
            yield escape(environment.finalize((', ' if (not environment.getattr(l_1_loop, 'last')) else cond_expr_undefined("the inline if-expression on line 209 in 'report.html.j2' evaluated to false and no else section was defined."))))
        l_1_loop = l_1_g = missing
        yield '</p>'
    yield '\n\n<h3>Listening sockets</h3>\n<table>\n  <tr><th>Socket</th><th>Process</th><th>User</th><th>Reachable from</th></tr>'
    t_17 = 1
    for l_1_row in environment.getattr((undefined(name='sockets') if l_0_sockets is missing else l_0_sockets), 'rows'):
        l_1_x = l_1_p = missing
        _loop_vars = {}
        pass
        l_1_x = environment.getattr(l_1_row, 'exposure')
        _loop_vars['x'] = l_1_x
        l_1_p = environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'process')
        _loop_vars['p'] = l_1_p
        yield '\n  <tr>'
        if (environment.getattr(l_1_row, 'count') == 1):
            pass
            yield '<td class="mono">'
            yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'protocol')))
            yield ' '
            yield escape(environment.finalize(environment.call(context, (undefined(name='ep') if l_0_ep is missing else l_0_ep), (undefined(name='x') if l_1_x is missing else l_1_x), _loop_vars=_loop_vars)))
            yield '</td>'
        else:
            pass
            yield '<td class="mono wrap">'
            yield escape(environment.finalize(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'protocol')))
            yield ' '
            yield escape(environment.finalize(environment.getattr(l_1_row, 'where_listed')))
            yield ' <span class="meta">('
            yield escape(environment.finalize(environment.getattr(l_1_row, 'span')))
            yield ')</span></td>'
        yield '\n    <td class="wrap">'
        if (undefined(name='p') if l_1_p is missing else l_1_p):
            pass
            yield escape(environment.finalize((environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'name') or '?')))
            if (environment.getattr(l_1_row, 'processes') > 1):
                pass
                yield ' <span class="meta">('
                yield escape(environment.finalize(t_5(environment.getattr(l_1_row, 'processes'))))
                yield ' processes, '
                yield escape(environment.finalize(environment.getattr(l_1_row, 'pids')))
                yield ')</span>'
            elif (not t_10(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid'))):
                pass
                yield ' <span class="meta">('
                yield escape(environment.finalize(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid')))
                yield ')</span>'
        else:
            pass
            yield '<span class="empty">unknown</span>'
        yield '</td>\n    <td>'
        yield escape(environment.finalize((environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username') if ((undefined(name='p') if l_1_p is missing else l_1_p) and environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username')) else (markup_join(('uid ', environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid'), )) if (not t_10(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid'))) else '?'))))
        yield '</td>\n    <td>'
        if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'exposed'):
            pass
            def t_18(fiter):
                for l_2_sc in fiter:
                    if (l_2_sc != 'loopback'):
                        yield l_2_sc
            for l_2_sc in t_18(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'scopes')):
                _loop_vars = {}
                pass
                yield escape(environment.finalize(environment.call(context, (undefined(name='scope_tag') if l_0_scope_tag is missing else l_0_scope_tag), l_2_sc, _loop_vars=_loop_vars)))
            l_2_sc = missing
        else:
            pass
            yield escape(environment.finalize(environment.call(context, (undefined(name='scope_tag') if l_0_scope_tag is missing else l_0_scope_tag), 'loopback', _loop_vars=_loop_vars)))
        yield '</td></tr>'
        t_17 = 0
    l_1_row = l_1_x = l_1_p = missing
    if t_17:
        pass
        yield '\n  <tr><td colspan="4" class="empty">No listening sockets.</td></tr>'
    yield '\n</table>'
    if environment.getattr((undefined(name='sockets') if l_0_sockets is missing else l_0_sockets), 'hidden'):
        pass
        yield '\n<p class="meta">'
        yield escape(environment.finalize(t_5(environment.getattr((undefined(name='sockets') if l_0_sockets is missing else l_0_sockets), 'hidden'))))
        yield ' more listening socket'
        yield escape(environment.finalize(('s' if (environment.getattr((undefined(name='sockets') if l_0_sockets is missing else l_0_sockets), 'hidden') != 1) else cond_expr_undefined("the inline if-expression on line 227 in 'report.html.j2' evaluated to false and no else section was defined."))))
        yield ' ('
        yield escape(environment.finalize(t_5(environment.getattr((undefined(name='sockets') if l_0_sockets is missing else l_0_sockets), 'hidden_rows'))))
        yield ' rows) not shown: the JSON report lists every one.</p>'
    yield '\n\n<h3>Router (UPnP)</h3>'
    l_0_u = environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'upnp')
    context.vars['u'] = l_0_u
    context.exported_vars.add('u')
    if ((undefined(name='u') if l_0_u is missing else l_0_u) and (environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'status') == 'ok')):
        pass
        yield '\n<p>'
        yield escape(environment.finalize((environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'friendly_name') or 'Internet gateway')))
        if (environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'manufacturer') or environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'model_name')):
            pass
            yield ' ('
            yield escape(environment.finalize(environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'manufacturer')))
            yield ' '
            yield escape(environment.finalize(environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'model_name')))
            yield ')'
        yield ': external address <span class="mono">'
        yield escape(environment.finalize((environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'external_ip') or 'unknown')))
        yield '</span>'
        if (environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'external_scope') and (environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'external_scope') != 'public')):
            pass
            yield ' — not a public address: the router is itself behind another NAT'
        yield '. Description at <span class="mono">'
        yield escape(environment.finalize(environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'location')))
        yield '</span>.</p>\n<table>\n  <tr><th>External</th><th>Forwards to</th><th>Description</th><th>Lease</th></tr>'
        t_19 = 1
        for l_1_m in environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'mappings'):
            _loop_vars = {}
            pass
            yield '\n  <tr><td class="mono">'
            yield escape(environment.finalize(environment.getattr(l_1_m, 'external_port')))
            yield '/'
            yield escape(environment.finalize(environment.getattr(l_1_m, 'protocol')))
            if environment.getattr(l_1_m, 'remote_host'):
                pass
                yield ' from '
                yield escape(environment.finalize(environment.getattr(l_1_m, 'remote_host')))
            yield '</td><td class="mono">'
            yield escape(environment.finalize(environment.getattr(l_1_m, 'internal_client')))
            yield ':'
            yield escape(environment.finalize(environment.getattr(l_1_m, 'internal_port')))
            yield '</td><td class="wrap">'
            yield escape(environment.finalize(environment.getattr(l_1_m, 'description')))
            if (not environment.getattr(l_1_m, 'enabled')):
                pass
                yield ' (disabled)'
            yield '</td><td>'
            yield escape(environment.finalize((markup_join((environment.getattr(l_1_m, 'lease_duration'), ' s', )) if environment.getattr(l_1_m, 'lease_duration') else 'permanent')))
            yield '</td></tr>'
            t_19 = 0
        l_1_m = missing
        if t_19:
            pass
            yield '\n  <tr><td colspan="4" class="empty">No port mappings.</td></tr>'
        yield '\n</table>'
        if environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'truncated'):
            pass
            yield '<p class="warn">Only the first '
            yield escape(environment.finalize(t_3(environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'mappings'))))
            yield ' mappings were read.</p>'
    else:
        pass
        yield '\n<p class="empty">'
        yield escape(environment.finalize((environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'message') if ((undefined(name='u') if l_0_u is missing else l_0_u) and environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'message')) else 'UPnP was not checked.')))
        if (undefined(name='u') if l_0_u is missing else l_0_u):
            pass
            yield ' (status: '
            yield escape(environment.finalize(environment.getattr((undefined(name='u') if l_0_u is missing else l_0_u), 'status')))
            yield ')'
        yield '</p>'
    yield '\n\n<h3>Warnings</h3>'
    t_20 = 1
    for l_1_w in environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'warnings'):
        _loop_vars = {}
        pass
        yield '\n<div class="warn"><b>'
        yield escape(environment.finalize(environment.getattr(l_1_w, 'collector')))
        yield '</b>: '
        yield escape(environment.finalize(environment.getattr(l_1_w, 'message')))
        if environment.getattr(l_1_w, 'hint'):
            pass
            yield ' — '
            yield escape(environment.finalize(environment.getattr(l_1_w, 'hint')))
        yield '</div>'
        t_20 = 0
    l_1_w = missing
    if t_20:
        pass
        yield '\n<p class="empty">None: every collector ran in full.</p>'
    yield '\n\n<footer>\n  '
    yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'tool'), 'name')))
    yield ' '
    yield escape(environment.finalize(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'tool'), 'version')))
    yield ' · report schema '
    yield escape(environment.finalize(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'schema_version')))
    yield ' · '
    yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'rules_evaluated')))
    yield ' rules evaluated · fail-on: '
    yield escape(environment.finalize(environment.getattr((undefined(name='s') if l_0_s is missing else l_0_s), 'fail_on')))
    yield '.\n  This page is self-contained: it loads nothing from the network and runs no script.\n</footer>\n</body>\n</html>\n'

blocks = {}
debug_info = '6=79&8=82&9=85&10=96&11=112&13=125&14=137&15=145&22=158&25=160&26=164&27=166&31=168&33=170&34=172&35=174&36=176&40=182&41=184&42=186&43=189&44=192&46=200&47=203&48=206&49=208&52=223&53=232&54=238&55=244&56=250&61=258&62=262&64=271&68=275&70=279&71=283&72=287&74=292&75=296&77=314&78=315&79=318&81=322&83=323&84=327&86=329&87=333&88=335&91=338&92=342&94=344&95=347&102=350&104=354&105=369&106=384&110=394&113=398&114=405&115=408&116=410&117=412&119=417&120=422&121=424&122=428&125=459&126=462&128=464&129=467&132=470&133=478&135=488&136=493&137=500&138=503&139=511&141=520&142=532&143=536&145=545&147=549&148=553&149=561&150=563&151=570&152=573&155=595&156=599&157=603&161=609&162=612&167=617&168=620&169=640&170=643&174=657&176=660&177=665&178=669&181=673&182=687&183=691&185=702&186=706&188=711&189=714&195=719&196=722&203=729&204=733&205=742&208=760&209=763&215=778&216=782&217=784&218=787&219=804&220=823&221=825&226=846&227=849&231=856&232=859&233=862&236=880&237=884&242=909&244=917&248=926&249=930&255=944'

# Generated by scripts/precompile_templates.py from reports/report.html.j2: do not edit.
