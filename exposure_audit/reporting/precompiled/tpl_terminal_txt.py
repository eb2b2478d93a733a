from exposure_audit.reporting.compiled import LoopContext, Macro, Markup, Namespace, TemplateNotFound, TemplateReference, TemplateRuntimeError, Undefined, escape, identity, internalcode, markup_join, missing, str_join
name = 'terminal.txt.j2'

def root(context, missing=missing, environment=environment):
    resolve = context.resolve_or_missing
    undefined = environment.undefined
    concat = environment.concat
    cond_expr_undefined = Undefined
    if 0: yield None
    l_0_namespace = resolve('namespace')
    l_0_view = resolve('view')
    l_0_summary = resolve('summary')
    l_0_quiet = resolve('quiet')
    l_0_report = resolve('report')
    l_0_width = resolve('width')
    l_0_upnp_note = resolve('upnp_note')
    l_0_unlisted = resolve('unlisted')
    l_0_fw = resolve('fw')
    l_0_fw_warned = resolve('fw_warned')
    l_0_fw_note = resolve('fw_note')
    l_0_probe_note = resolve('probe_note')
    l_0_upnp_msg = resolve('upnp_msg')
    l_0_ns = l_0_findings_line = l_0_status = l_0_status_style = missing
    try:
        t_1 = environment.filters['c']
    except KeyError:
        @internalcode
        def t_1(*unused):
            raise TemplateRuntimeError("No filter named 'c' found.")
    try:
        t_2 = environment.filters['clen']
    except KeyError:
        @internalcode
        def t_2(*unused):
            raise TemplateRuntimeError("No filter named 'clen' found.")
    try:
        t_3 = environment.filters['cmd']
    except KeyError:
        @internalcode
        def t_3(*unused):
            raise TemplateRuntimeError("No filter named 'cmd' found.")
    try:
        t_4 = environment.filters['ep']
    except KeyError:
        @internalcode
        def t_4(*unused):
            raise TemplateRuntimeError("No filter named 'ep' found.")
    try:
        t_5 = environment.filters['format']
    except KeyError:
        @internalcode
        def t_5(*unused):
            raise TemplateRuntimeError("No filter named 'format' found.")
    try:
        t_6 = environment.filters['length']
    except KeyError:
        @internalcode
        def t_6(*unused):
            raise TemplateRuntimeError("No filter named 'length' found.")
    try:
        t_7 = environment.filters['list']
    except KeyError:
        @internalcode
        def t_7(*unused):
            raise TemplateRuntimeError("No filter named 'list' found.")
    try:
        t_8 = environment.filters['privilege']
    except KeyError:
        @internalcode
        def t_8(*unused):
            raise TemplateRuntimeError("No filter named 'privilege' found.")
    try:
        t_9 = environment.filters['selectattr']
    except KeyError:
        @internalcode
        def t_9(*unused):
            raise TemplateRuntimeError("No filter named 'selectattr' found.")
    try:
        t_10 = environment.filters['upper']
    except KeyError:
        @internalcode
        def t_10(*unused):
            raise TemplateRuntimeError("No filter named 'upper' found.")
    try:
        t_11 = environment.filters['upper_']
    except KeyError:
        @internalcode
        def t_11(*unused):
            raise TemplateRuntimeError("No filter named 'upper_' found.")
    try:
        t_12 = environment.filters['wrap']
    except KeyError:
        @internalcode
        def t_12(*unused):
            raise TemplateRuntimeError("No filter named 'wrap' found.")
    try:
        t_13 = environment.tests['false']
    except KeyError:
        @internalcode
        def t_13(*unused):
            raise TemplateRuntimeError("No test named 'false' found.")
    try:
        t_14 = environment.tests['none']
    except KeyError:
        @internalcode
        def t_14(*unused):
            raise TemplateRuntimeError("No test named 'none' found.")
    pass
    l_0_ns = environment.call(context, (undefined(name='namespace') if l_0_namespace is missing else l_0_namespace), counts='')
    context.vars['ns'] = l_0_ns
    context.exported_vars.add('ns')
    def t_15(fiter):
        for l_1_s in fiter:
            if environment.getitem(environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'by_severity'), l_1_s):
                yield l_1_s
    for l_1_s in t_15(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'severities_desc')):
        _loop_vars = {}
        pass
        if not isinstance(l_0_ns, Namespace):
            raise TemplateRuntimeError("cannot assign attribute on non-namespace object")
        l_0_ns['counts'] = str_join((environment.getattr((undefined(name='ns') if l_0_ns is missing else l_0_ns), 'counts'), (', ' if environment.getattr((undefined(name='ns') if l_0_ns is missing else l_0_ns), 'counts') else ''), environment.getitem(environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'by_severity'), l_1_s), ' ', l_1_s, ))
    l_1_s = missing
    l_0_findings_line = (str_join((environment.getattr((undefined(name='ns') if l_0_ns is missing else l_0_ns), 'counts'), ' finding', ('s' if ((environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'findings_total') - environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'waived')) != 1) else ''), )) if environment.getattr((undefined(name='ns') if l_0_ns is missing else l_0_ns), 'counts') else 'no findings')
    context.vars['findings_line'] = l_0_findings_line
    context.exported_vars.add('findings_line')
    l_0_findings_line = str_join(((undefined(name='findings_line') if l_0_findings_line is missing else l_0_findings_line), (str_join((', ', environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'waived'), ' waived', )) if environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'waived') else ''), ))
    context.vars['findings_line'] = l_0_findings_line
    context.exported_vars.add('findings_line')
    l_0_status = (environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'status') if ((environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'status') != 'ok') or (not environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'listeners_exposed'))) else 'exposed')
    context.vars['status'] = l_0_status
    context.exported_vars.add('status')
    l_0_status_style = ((undefined(name='status') if l_0_status is missing else l_0_status) if ((undefined(name='status') if l_0_status is missing else l_0_status) != 'exposed') else 'cyan')
    context.vars['status_style'] = l_0_status_style
    context.exported_vars.add('status_style')
    if (undefined(name='quiet') if l_0_quiet is missing else l_0_quiet):
        pass
        yield str(environment.finalize(t_1(t_11((undefined(name='status') if l_0_status is missing else l_0_status)), (undefined(name='status_style') if l_0_status_style is missing else l_0_status_style))))
        yield ': '
        yield str(environment.finalize(environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'verdict')))
        yield ' ('
        yield str(environment.finalize((undefined(name='findings_line') if l_0_findings_line is missing else l_0_findings_line)))
        yield ')\n'
    else:
        pass
        yield str(environment.finalize(t_1('exposure-audit', 'bold')))
        yield ' '
        yield str(environment.finalize(t_12(str_join((str_join((environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'tool'), 'version'), ' · ', environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'hostname'), ' · ', environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'generated_at'), )), (str_join((' · from ', environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'facts_file'), )) if environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'facts_file') else ''), )), (undefined(name='width') if l_0_width is missing else l_0_width), 2, 15, lines=3)))
        if (not environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'privileged')):
            pass
            yield '\n'
            yield str(environment.finalize(t_1(t_12(str_join((t_8(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'), 'not_elevated'), ': some processes may not be attributed (', t_8(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'), 'how'), ' for full attribution)', )), (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'dim')))
        l_1_loop = missing
        for l_1_b, l_1_loop in LoopContext(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'blocks'), undefined):
            l_1_x = resolve('x')
            l_1_p = resolve('p')
            l_1_extra = resolve('extra')
            l_1_reserve = resolve('reserve')
            l_1_name = resolve('name')
            l_1_head = resolve('head')
            l_1_m = resolve('m')
            l_1_blocked = l_1_label = l_1_style = missing
            _loop_vars = {}
            pass
            l_1_blocked = ((environment.getattr(l_1_b, 'kind') == 'listener') and environment.getattr(environment.getattr(l_1_b, 'exposure'), 'blocked_by_firewall'))
            _loop_vars['blocked'] = l_1_blocked
            l_1_label = t_11((environment.getattr(l_1_b, 'severity') or ('waived' if environment.getattr(l_1_b, 'waived') else (('blocked' if (undefined(name='blocked') if l_1_blocked is missing else l_1_blocked) else 'exposed') if (environment.getattr(l_1_b, 'kind') == 'listener') else 'mapping'))))
            _loop_vars['label'] = l_1_label
            l_1_style = (environment.getattr(l_1_b, 'severity') or ('dim' if environment.getattr(l_1_b, 'waived') else ('green' if (undefined(name='blocked') if l_1_blocked is missing else l_1_blocked) else 'cyan')))
            _loop_vars['style'] = l_1_style
            if (environment.getattr(l_1_b, 'kind') == 'listener'):
                pass
                l_1_x = environment.getattr(l_1_b, 'exposure')
                _loop_vars['x'] = l_1_x
                l_1_p = environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'process')
                _loop_vars['p'] = l_1_p
                if (environment.getattr(l_1_b, 'processes') > 1):
                    pass
                    l_1_extra = str_join(((str_join(('user ', environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username'), ', ', )) if environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username') else ''), environment.getattr(l_1_b, 'pids'), ))
                    _loop_vars['extra'] = l_1_extra
                else:
                    pass
                    l_1_extra = (str_join(('pid ', environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid'), (str_join((', ', environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username'), )) if environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'username') else ''), )) if ((undefined(name='p') if l_1_p is missing else l_1_p) and (not t_14(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid')))) else '')
                    _loop_vars['extra'] = l_1_extra
                l_1_extra = str_join(((undefined(name='extra') if l_1_extra is missing else l_1_extra), (str_join((('  ' if (undefined(name='extra') if l_1_extra is missing else l_1_extra) else ''), 'container ', environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'container'), )) if (environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'container') and (undefined(name='p') if l_1_p is missing else l_1_p)) else ''), ))
                _loop_vars['extra'] = l_1_extra
                l_1_reserve = ((t_2((undefined(name='extra') if l_1_extra is missing else l_1_extra)) + 2) if (undefined(name='extra') if l_1_extra is missing else l_1_extra) else 0)
                _loop_vars['reserve'] = l_1_reserve
                l_1_name = (environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'name') if ((undefined(name='p') if l_1_p is missing else l_1_p) and environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'name')) else (str_join((environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by'), ' container ', (environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'container') or '?'), )) if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by') else 'unknown process'))
                _loop_vars['name'] = l_1_name
                l_1_head = str_join(((undefined(name='name') if l_1_name is missing else l_1_name), ' on ', environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'protocol'), ' ', (t_4((undefined(name='x') if l_1_x is missing else l_1_x)) if (environment.getattr(l_1_b, 'count') == 1) else environment.getattr(l_1_b, 'where_count')), ))
                _loop_vars['head'] = l_1_head
                yield '\n\n'
                yield str(environment.finalize(t_1(t_5('%-8s', (undefined(name='label') if l_1_label is missing else l_1_label)), (undefined(name='style') if l_1_style is missing else l_1_style))))
                yield '  '
                yield str(environment.finalize(t_1(t_12((undefined(name='head') if l_1_head is missing else l_1_head), (undefined(name='width') if l_0_width is missing else l_0_width), 10, lines=3), 'bold')))
                if ((undefined(name='extra') if l_1_extra is missing else l_1_extra) and ((t_2((undefined(name='head') if l_1_head is missing else l_1_head)) + (undefined(name='reserve') if l_1_reserve is missing else l_1_reserve)) <= ((undefined(name='width') if l_0_width is missing else l_0_width) - 10))):
                    pass
                    yield '  '
                    yield str(environment.finalize(t_1((undefined(name='extra') if l_1_extra is missing else l_1_extra), 'dim')))
                elif (undefined(name='extra') if l_1_extra is missing else l_1_extra):
                    pass
                    yield '\n          '
                    yield str(environment.finalize(t_1(t_12((undefined(name='extra') if l_1_extra is missing else l_1_extra), (undefined(name='width') if l_0_width is missing else l_0_width), 10), 'dim')))
                if ((undefined(name='p') if l_1_p is missing else l_1_p) and environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'cmdline')):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('what', 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_12(str_join(((str_join(('pid ', environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'pid'), ' (the others alike but for their ports): ', )) if (environment.getattr(l_1_b, 'processes') > 1) else ''), t_3(environment.getattr((undefined(name='p') if l_1_p is missing else l_1_p), 'cmdline')), )), (undefined(name='width') if l_0_width is missing else l_0_width), 8, lines=4)))
                elif ((not (undefined(name='p') if l_1_p is missing else l_1_p)) and environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'notes')):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('what', 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_12(environment.getitem(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'notes'), 0), (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
                elif (not (undefined(name='p') if l_1_p is missing else l_1_p)):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('what', 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_12(str_join(((str_join(('process unknown (socket owner uid ', environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid'), '); ', )) if (not t_14(environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'uid'))) else 'process unknown; '), t_8(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'host'), 'os'), 'short'), ' to see it', )), (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
                l_2_loop = missing
                for l_2_r, l_2_loop in LoopContext(environment.getattr(l_1_b, 'from'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1(('from' if environment.getattr(l_2_loop, 'first') else '    '), 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_12(l_2_r, (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
                l_2_loop = l_2_r = missing
                if (not environment.getattr(l_1_b, 'from')):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('from', 'dim')))
                    yield '  this machine only'
                if (undefined(name='blocked') if l_1_blocked is missing else l_1_blocked):
                    pass
                    yield '\n        '
                    yield str(environment.finalize(t_1(t_12(str_join(('blocked by the firewall on every path checked: ', (environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'firewall_evidence') or '?'), )), (undefined(name='width') if l_0_width is missing else l_0_width), 8), 'green')))
                l_2_loop = missing
                for l_2_f, l_2_loop in LoopContext(environment.getattr(l_1_b, 'findings'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1(('why ' if environment.getattr(l_2_loop, 'first') else '    '), 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_1(t_5('%-8s', environment.getattr(l_2_f, 'severity')), environment.getattr(l_2_f, 'severity'))))
                    yield ' '
                    yield str(environment.finalize(environment.getattr(l_2_f, 'rule_id')))
                    yield '  '
                    yield str(environment.finalize(t_12(environment.getattr(l_2_f, 'title'), (undefined(name='width') if l_0_width is missing else l_0_width), 8, ((17 + t_6(environment.getattr(l_2_f, 'rule_id'))) + 2))))
                    if environment.getattr(l_2_f, 'waiver_expired'):
                        pass
                        yield '\n        '
                        yield str(environment.finalize(t_1(t_12(str_join(((environment.getattr(l_2_f, 'waiver_reason') or 'its waiver expired'), '; it counts again', )), (undefined(name='width') if l_0_width is missing else l_0_width), 8), 'yellow')))
                l_2_loop = l_2_f = missing
                l_2_loop = missing
                for l_2_f, l_2_loop in LoopContext(environment.getattr(l_1_b, 'waived'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1(('why ' if (environment.getattr(l_2_loop, 'first') and (not environment.getattr(l_1_b, 'findings'))) else '    '), 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_1(t_12(str_join(('waived ', environment.getattr(l_2_f, 'rule_id'), ': ', (environment.getattr(l_2_f, 'waiver_reason') or 'no reason given'), )), (undefined(name='width') if l_0_width is missing else l_0_width), 8), 'dim')))
                l_2_loop = l_2_f = missing
                if (((not environment.getattr(l_1_b, 'findings')) and (not environment.getattr(l_1_b, 'waived'))) and (not (undefined(name='blocked') if l_1_blocked is missing else l_1_blocked))):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('why ', 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_12('no rule flags it, but it is reachable beyond this machine', (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
                l_2_loop = missing
                for l_2_fix, l_2_loop in LoopContext(environment.getattr(l_1_b, 'fixes'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1(('fix ' if environment.getattr(l_2_loop, 'first') else '    '), ('green' if environment.getattr(l_2_loop, 'first') else 'dim'))))
                    yield '  '
                    yield str(environment.finalize(t_12(str_join(((str_join(('on port ', environment.getattr(l_1_b, 'fix_port'), ' (likewise on each port): ', )) if (environment.getattr(l_2_loop, 'first') and (not t_14(environment.getattr(l_1_b, 'fix_port')))) else ''), l_2_fix, )), (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
                l_2_loop = l_2_fix = missing
                if (((not environment.getattr(l_1_b, 'fixes')) and (not environment.getattr(l_1_b, 'waived'))) and (not (undefined(name='blocked') if l_1_blocked is missing else l_1_blocked))):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('fix ', 'green')))
                    yield '  '
                    yield str(environment.finalize(t_12((str_join(('if only this machine uses it, publish it on loopback only: ', environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by'), ' run -p 127.0.0.1:', (environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'port') if (environment.getattr(l_1_b, 'count') == 1) else 'PORT'), ':...', )) if environment.getattr((undefined(name='x') if l_1_x is missing else l_1_x), 'published_by') else 'if only this machine uses it, bind it to 127.0.0.1 (or ::1)'), (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
            else:
                pass
                l_1_m = environment.getattr(l_1_b, 'mapping')
                _loop_vars['m'] = l_1_m
                yield '\n\n'
                yield str(environment.finalize(t_1(t_5('%-8s', (undefined(name='label') if l_1_label is missing else l_1_label)), (undefined(name='style') if l_1_style is missing else l_1_style))))
                yield '  '
                yield str(environment.finalize(t_1(t_12(str_join(('router forwards port ', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'external_port'), '/', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'protocol'), ' to ', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'internal_client'), ':', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'internal_port'), ', where nothing listens', )), (undefined(name='width') if l_0_width is missing else l_0_width), 10, lines=3), 'bold')))
                if environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'description'):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('what', 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_12(str_join(('UPnP mapping "', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'description'), '"', )), (undefined(name='width') if l_0_width is missing else l_0_width), 8, lines=2)))
                l_2_loop = missing
                for l_2_f, l_2_loop in LoopContext(environment.getattr(l_1_b, 'findings'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1(('why ' if environment.getattr(l_2_loop, 'first') else '    '), 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_1(t_5('%-8s', environment.getattr(l_2_f, 'severity')), environment.getattr(l_2_f, 'severity'))))
                    yield ' '
                    yield str(environment.finalize(environment.getattr(l_2_f, 'rule_id')))
                    yield '  '
                    yield str(environment.finalize(t_12(environment.getattr(l_2_f, 'title'), (undefined(name='width') if l_0_width is missing else l_0_width), 8, ((17 + t_6(environment.getattr(l_2_f, 'rule_id'))) + 2))))
                    if environment.getattr(l_2_f, 'waiver_expired'):
                        pass
                        yield '\n        '
                        yield str(environment.finalize(t_1(t_12(str_join(((environment.getattr(l_2_f, 'waiver_reason') or 'its waiver expired'), '; it counts again', )), (undefined(name='width') if l_0_width is missing else l_0_width), 8), 'yellow')))
                l_2_loop = l_2_f = missing
                l_2_loop = missing
                for l_2_f, l_2_loop in LoopContext(environment.getattr(l_1_b, 'waived'), undefined):
                    _loop_vars = {}
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1(('why ' if (environment.getattr(l_2_loop, 'first') and (not environment.getattr(l_1_b, 'findings'))) else '    '), 'dim')))
                    yield '  '
                    yield str(environment.finalize(t_1(t_12(str_join(('waived ', environment.getattr(l_2_f, 'rule_id'), ': ', (environment.getattr(l_2_f, 'waiver_reason') or 'no reason given'), )), (undefined(name='width') if l_0_width is missing else l_0_width), 8), 'dim')))
                l_2_loop = l_2_f = missing
                if (not environment.getattr(l_1_b, 'waived')):
                    pass
                    yield '\n  '
                    yield str(environment.finalize(t_1('fix ', 'green')))
                    yield '  '
                    yield str(environment.finalize(t_12((environment.getitem(environment.getattr(l_1_b, 'fixes'), 0) if environment.getattr(l_1_b, 'fixes') else str_join(('delete the mapping: upnpc -d ', environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'external_port'), ' ', t_11(environment.getattr((undefined(name='m') if l_1_m is missing else l_1_m), 'protocol')), ))), (undefined(name='width') if l_0_width is missing else l_0_width), 8)))
        l_1_loop = l_1_b = l_1_blocked = l_1_label = l_1_style = l_1_x = l_1_p = l_1_extra = l_1_reserve = l_1_name = l_1_head = l_1_m = missing
        l_0_upnp_note = (environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'upnp') and (environment.getattr(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'upnp'), 'status') != 'ok'))
        context.vars['upnp_note'] = l_0_upnp_note
        context.exported_vars.add('upnp_note')
        l_0_unlisted = t_6(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'loopback_unlisted'))
        context.vars['unlisted'] = l_0_unlisted
        context.exported_vars.add('unlisted')
        l_0_fw = environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'firewall')
        context.vars['fw'] = l_0_fw
        context.exported_vars.add('fw')
        l_0_fw_warned = t_7(context.eval_ctx, t_9(context, environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'warnings'), 'collector', 'equalto', 'firewall'))
        context.vars['fw_warned'] = l_0_fw_warned
        context.exported_vars.add('fw_warned')
        if ((undefined(name='fw') if l_0_fw is missing else l_0_fw) and (environment.getattr((undefined(name='fw') if l_0_fw is missing else l_0_fw), 'backend') == 'none')):
            pass
            l_0_fw_note = 'firewall: no rules loaded (nftables/iptables empty): nothing filters inbound traffic'
            context.vars['fw_note'] = l_0_fw_note
            context.exported_vars.add('fw_note')
        elif (((undefined(name='fw') if l_0_fw is missing else l_0_fw) and (environment.getattr((undefined(name='fw') if l_0_fw is missing else l_0_fw), 'backend') == 'unavailable')) and (not (undefined(name='fw_warned') if l_0_fw_warned is missing else l_0_fw_warned))):
            pass
            l_0_fw_note = str_join(('firewall: not read: ', (environment.getattr((undefined(name='fw') if l_0_fw is missing else l_0_fw), 'message') or 'no reason given'), ))
            context.vars['fw_note'] = l_0_fw_note
            context.exported_vars.add('fw_note')
        elif (((not (undefined(name='fw') if l_0_fw is missing else l_0_fw)) and (not environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'firewall'))) and (not environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'facts_file'))):
            pass
            l_0_fw_note = 'firewall: not read (--no-firewall): exposures are reported as if unfiltered'
            context.vars['fw_note'] = l_0_fw_note
            context.exported_vars.add('fw_note')
        else:
            pass
            l_0_fw_note = ''
            context.vars['fw_note'] = l_0_fw_note
            context.exported_vars.add('fw_note')
        l_0_probe_note = ((not environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'facts_file')) and t_13(environment.call(context, environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'options'), 'get'), 'probe', True)))
        context.vars['probe_note'] = l_0_probe_note
        context.exported_vars.add('probe_note')
        if ((((((undefined(name='unlisted') if l_0_unlisted is missing else l_0_unlisted) or (undefined(name='fw_note') if l_0_fw_note is missing else l_0_fw_note)) or (undefined(name='upnp_note') if l_0_upnp_note is missing else l_0_upnp_note)) or (undefined(name='probe_note') if l_0_probe_note is missing else l_0_probe_note)) or environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'warnings')) or environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks')):
            pass
            yield '\n'
        yield '\n'
        if environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks'):
            pass
            yield str(environment.finalize(t_1(t_12(str_join((environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks'), ' more entr', ('ies' if (environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'blocks') != 1) else 'y'), ' (', environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'listeners'), ' listener', ('s' if (environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'listeners') != 1) else ''), ' or router mapping', ('s' if (environment.getattr(environment.getattr((undefined(name='view') if l_0_view is missing else l_0_view), 'hidden'), 'listeners') != 1) else ''), ', the least severe) not shown: the JSON report (-f json) lists every one', )), (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'dim')))
            yield '\n'
        if (undefined(name='unlisted') if l_0_unlisted is missing else l_0_unlisted):
            pass
            yield str(environment.finalize(t_1(t_12(str_join(((undefined(name='unlisted') if l_0_unlisted is missing else l_0_unlisted), ' more listener', ('s' if ((undefined(name='unlisted') if l_0_unlisted is missing else l_0_unlisted) != 1) else ''), ' reachable from this machine only (not shown)', )), (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'dim')))
            yield '\n'
        if (undefined(name='fw_note') if l_0_fw_note is missing else l_0_fw_note):
            pass
            yield str(environment.finalize(t_1(t_12((undefined(name='fw_note') if l_0_fw_note is missing else l_0_fw_note), (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'dim')))
            yield '\n'
        if (undefined(name='upnp_note') if l_0_upnp_note is missing else l_0_upnp_note):
            pass
            l_0_upnp_msg = (environment.getattr(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'upnp'), 'message') or environment.getattr(environment.getattr(environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'facts'), 'upnp'), 'status'))
            context.vars['upnp_msg'] = l_0_upnp_msg
            context.exported_vars.add('upnp_msg')
            yield str(environment.finalize(t_1(t_12(str_join(('UPnP: ', ((undefined(name='upnp_msg') if l_0_upnp_msg is missing else l_0_upnp_msg)[5:] if environment.call(context, environment.getattr((undefined(name='upnp_msg') if l_0_upnp_msg is missing else l_0_upnp_msg), 'startswith'), 'UPnP ') else (undefined(name='upnp_msg') if l_0_upnp_msg is missing else l_0_upnp_msg)), )), (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'dim')))
            yield '\n'
        if (undefined(name='probe_note') if l_0_probe_note is missing else l_0_probe_note):
            pass
            yield str(environment.finalize(t_1(t_12('probes: off: no service was asked what it is; names come from the process and the port', (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'dim')))
            yield '\n'
        for l_1_w in environment.getattr((undefined(name='report') if l_0_report is missing else l_0_report), 'warnings'):
            _loop_vars = {}
            pass
            yield str(environment.finalize(t_1(t_12(str_join(('warning (', environment.getattr(l_1_w, 'collector'), '): ', environment.getattr(l_1_w, 'message'), (str_join(('; ', environment.getattr(l_1_w, 'hint'), )) if environment.getattr(l_1_w, 'hint') else ''), )), (undefined(name='width') if l_0_width is missing else l_0_width), 2), 'yellow')))
            yield '\n'
        l_1_w = missing
        yield '\n'
        yield str(environment.finalize(t_1(t_5('%-8s', t_11((undefined(name='status') if l_0_status is missing else l_0_status))), (undefined(name='status_style') if l_0_status_style is missing else l_0_status_style))))
        yield '  '
        yield str(environment.finalize(t_12(environment.getattr((undefined(name='summary') if l_0_summary is missing else l_0_summary), 'verdict'), (undefined(name='width') if l_0_width is missing else l_0_width), 10)))
        yield '\n          '
        yield str(environment.finalize(t_12(str_join((t_10((undefined(name='findings_line') if l_0_findings_line is missing else l_0_findings_line)[:1]), (undefined(name='findings_line') if l_0_findings_line is missing else l_0_findings_line)[1:], '.', )), (undefined(name='width') if l_0_width is missing else l_0_width), 10)))
        yield '\n'

blocks = {}
debug_info = '11=109&12=112&13=121&15=123&16=126&18=129&19=132&20=135&21=137&23=145&24=148&25=151&27=153&28=164&29=166&30=168&31=170&32=172&33=174&35=176&36=178&38=182&40=184&41=186&42=188&44=190&46=193&47=196&48=200&49=203&51=204&52=207&53=210&54=213&55=216&56=219&58=223&59=227&61=231&62=234&64=236&65=239&67=241&68=245&69=252&70=255&73=258&74=262&76=266&77=269&79=273&80=277&82=281&83=284&86=289&88=292&89=295&90=298&92=302&93=306&94=313&95=316&98=319&99=323&101=327&102=330&106=334&107=337&109=340&110=343&111=346&112=348&113=351&114=353&115=356&116=358&118=363&121=366&122=369&124=373&125=375&127=377&128=379&130=381&131=383&133=385&134=387&135=390&137=392&138=394&140=396&141=399&143=403&144=407'

# Generated by scripts/precompile_templates.py from reports/terminal.txt.j2: do not edit.
